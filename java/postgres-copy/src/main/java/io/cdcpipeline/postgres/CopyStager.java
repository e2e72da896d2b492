package io.cdcpipeline.postgres;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.util.Collections;
import java.util.Properties;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyManager;
import org.postgresql.core.BaseConnection;

/**
 * Stages a micro-batch into PostgreSQL with COPY, from the executors: one connection and one
 * {@code COPY ... FROM STDIN (FORMAT csv)} per partition, streamed through pgjdbc's CopyManager.
 *
 * <p>Spark's JDBC writer sends batched INSERTs (and does not escape a double quote inside a column
 * name); COPY is the bulk path PostgreSQL offers. Every column of {@code rows} is already a string in
 * PostgreSQL's input syntax (the Python side casts them), or null; this class only quotes them as CSV.
 * A task that is retried after its COPY committed stages its rows twice: the apply step tolerates
 * duplicate staging rows, as it did with the JDBC writer.
 */
public final class CopyStager {
    private static final int FLUSH_BYTES = 1 << 18;

    private CopyStager() {}

    /** Runs {@code copySql} once per partition of {@code rows}; returns the number of rows copied. */
    public static long copy(Dataset<Row> rows, String url, String user, String password, String copySql) {
        MapPartitionsFunction<Row, Long> copyPartition = partition -> {
            if (!partition.hasNext()) {
                return Collections.singletonList(0L).iterator();
            }
            Properties props = new Properties();
            props.setProperty("user", user);
            props.setProperty("password", password);
            long copied = 0;
            try (Connection conn = DriverManager.getConnection(url, props)) {
                CopyManager copyManager = new CopyManager(conn.unwrap(BaseConnection.class));
                CopyIn copyIn = copyManager.copyIn(copySql);
                try {
                    ByteArrayOutputStream buffer = new ByteArrayOutputStream(FLUSH_BYTES + 4096);
                    while (partition.hasNext()) {
                        appendCsvLine(buffer, partition.next());
                        copied++;
                        if (buffer.size() >= FLUSH_BYTES) {
                            copyIn.writeToCopy(buffer.toByteArray(), 0, buffer.size());
                            buffer.reset();
                        }
                    }
                    if (buffer.size() > 0) {
                        copyIn.writeToCopy(buffer.toByteArray(), 0, buffer.size());
                    }
                    copyIn.endCopy();
                } finally {
                    if (copyIn.isActive()) {
                        copyIn.cancelCopy();
                    }
                }
            }
            return Collections.singletonList(copied).iterator();
        };
        long total = 0;
        for (Long copied : rows.mapPartitions(copyPartition, Encoders.LONG()).collectAsList()) {
            total += copied;
        }
        return total;
    }

    /** One CSV line: null is an empty unquoted field, every other value is quoted (quotes doubled). */
    static void appendCsvLine(ByteArrayOutputStream out, Row row) {
        int n = row.length();
        StringBuilder line = new StringBuilder(256);
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                line.append(',');
            }
            if (!row.isNullAt(i)) {
                String value = row.getString(i);
                line.append('"');
                for (int j = 0; j < value.length(); j++) {
                    char c = value.charAt(j);
                    if (c == '"') {
                        line.append('"');
                    }
                    line.append(c);
                }
                line.append('"');
            }
        }
        line.append('\n');
        byte[] bytes = line.toString().getBytes(StandardCharsets.UTF_8);
        out.write(bytes, 0, bytes.length);
    }
}

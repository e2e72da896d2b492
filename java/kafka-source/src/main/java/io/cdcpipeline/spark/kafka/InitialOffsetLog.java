package io.cdcpipeline.spark.kafka;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.streaming.HDFSMetadataLog;

import java.io.BufferedWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The initial offsets of a query, kept in the source's checkpoint directory ({@code sources/N/0}) in the
 * same format as Spark's KafkaSourceInitialOffsetWriter: a zero byte, "v1\n", then the offsets JSON.
 */
final class InitialOffsetLog extends HDFSMetadataLog<KafkaSourceOffset> {
  private static final int VERSION = 1;

  InitialOffsetLog(SparkSession session, String path) {
    super(session, path, scala.reflect.ClassTag$.MODULE$.apply(KafkaSourceOffset.class));
  }

  @Override
  public void serialize(KafkaSourceOffset metadata, OutputStream out) {
    try {
      out.write(0); // a zero byte, for compatibility with Spark 2.1.0 (SPARK-19517)
      BufferedWriter writer = new BufferedWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8));
      writer.write("v" + VERSION + "\n");
      writer.write(metadata.json());
      writer.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public KafkaSourceOffset deserialize(InputStream in) {
    try {
      in.read(); // the zero byte
      ByteArrayOutputStream buf = new ByteArrayOutputStream();
      byte[] b = new byte[8192];
      int n;
      while ((n = in.read(b)) > 0) buf.write(b, 0, n);
      String content = new String(buf.toByteArray(), StandardCharsets.UTF_8);
      if (content.isEmpty()) throw new IllegalStateException("Initial offset log file is empty");
      if (content.charAt(0) == 'v') {
        int nl = content.indexOf('\n');
        if (nl <= 0) {
          throw new IllegalStateException("Log file was malformed: failed to detect the log file version line.");
        }
        validateVersion(content.substring(0, nl), VERSION);
        return KafkaSourceOffset.fromJson(content.substring(nl + 1));
      }
      return KafkaSourceOffset.fromJson(content);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}

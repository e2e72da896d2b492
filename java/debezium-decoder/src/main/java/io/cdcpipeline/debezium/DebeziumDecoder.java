package io.cdcpipeline.debezium;

import java.io.Serializable;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Decodes one Kafka record of a Debezium topic on the JVM: the body of cdc_pipeline.batch.decode_partition
 * (with debezium.decode_record) as a Spark UDF, {@code (key binary, value binary, topic string) -> struct}.
 *
 * <p>The struct holds every field of batch.DECODED_SCHEMA except the Kafka head the caller already has
 * (_kafka_topic, _kafka_partition, _kafka_offset, _kafka_ts), with the same values the Python decoder
 * produces: _kind change/tombstone/error, the same DecodeError kinds and reason texts, canonical strings,
 * _key/_before/_columns JSON. A failure inside the decoder never fails the task: the record becomes an
 * error row of kind decoder_failure with {@code ExceptionClass: message}.
 *
 * <p>Layout: {@link Decoder} is the port of debezium.decode_record, {@link PyJson} of json.loads (CPython's
 * scanner, its error texts included), {@link Py} the Python formatting the reasons and canonical strings
 * use (repr, float repr, Decimal str, strftime, json.dumps), {@link SchemaCache} skips re-parsing the
 * schema every message repeats. The differential tests (tests/unit/test_jvm_decode.py) hold it to the
 * Python decoder, field by field.
 *
 * <p>The key columns per topic are fixed when the UDF is built (see {@link #decode}): a JSON object
 * {@code {"<topic>": ["col", ...] | null | {"invalid": "<ValueError text>"}}}, null meaning "use the Kafka
 * key" and "invalid" a key_columns value decode_record rejects (every record of that topic then fails as
 * decode_record's ValueError does). A topic not in the object is unconfigured.
 */
public final class DebeziumDecoder implements UDF3<byte[], byte[], String, Row> {
    private static final long serialVersionUID = 1L;

    public static final StructType RESULT_TYPE = new StructType(new StructField[] {
        DataTypes.createStructField("_kind", DataTypes.StringType, true),
        DataTypes.createStructField("_op", DataTypes.StringType, true),
        DataTypes.createStructField("_seq", DataTypes.createDecimalType(38, 0), true),
        DataTypes.createStructField("_source_ts", DataTypes.TimestampType, true),
        DataTypes.createStructField("_binlog_file", DataTypes.StringType, true),
        DataTypes.createStructField("_binlog_pos", DataTypes.LongType, true),
        DataTypes.createStructField("_binlog_row", DataTypes.IntegerType, true),
        DataTypes.createStructField("_key", DataTypes.StringType, true),
        DataTypes.createStructField("_values", DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType, true), true),
        DataTypes.createStructField("_before", DataTypes.StringType, true),
        DataTypes.createStructField("_columns", DataTypes.StringType, true),
        DataTypes.createStructField("_error_kind", DataTypes.StringType, true),
        DataTypes.createStructField("_error_reason", DataTypes.StringType, true),
        DataTypes.createStructField("_raw_key", DataTypes.BinaryType, true),
        DataTypes.createStructField("_raw_value", DataTypes.BinaryType, true),
    });

    static final String KIND_CHANGE = "change";
    static final String KIND_TOMBSTONE = "tombstone";
    static final String KIND_ERROR = "error";

    private static final class TopicConfig implements Serializable {
        private static final long serialVersionUID = 1L;
        final List<String> keyColumns;  // null: the Kafka key
        final String invalid;  // the ValueError text for a key_columns value decode_record refuses

        TopicConfig(List<String> keyColumns, String invalid) {
            this.keyColumns = keyColumns;
            this.invalid = invalid;
        }
    }

    private final HashMap<String, TopicConfig> topics = new HashMap<>();

    public DebeziumDecoder(String keyColumnsByTopicJson) {
        Object parsed;
        try {
            parsed = PyJson.loads(keyColumnsByTopicJson);
        } catch (PyJson.Failure | PyException e) {
            throw new IllegalArgumentException("key columns by topic must be JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map)) throw new IllegalArgumentException("key columns by topic must be a JSON object");
        for (Map.Entry<?, ?> e : ((Map<?, ?>) parsed).entrySet()) {
            String topic = (String) e.getKey();
            Object spec = e.getValue();
            if (spec == null) {
                topics.put(topic, new TopicConfig(null, null));
            } else if (spec instanceof List) {
                List<String> names = new ArrayList<>();
                for (Object name : (List<?>) spec) {
                    if (!(name instanceof String)) {
                        throw new IllegalArgumentException("key columns of " + topic + " must be strings, found " + Py.repr(name));
                    }
                    names.add((String) name);
                }
                if (names.isEmpty()) throw new IllegalArgumentException("key columns of " + topic + " must not be empty");
                topics.put(topic, new TopicConfig(Collections.unmodifiableList(names), null));
            } else if (spec instanceof Map && ((Map<?, ?>) spec).get("invalid") instanceof String) {
                topics.put(topic, new TopicConfig(null, (String) ((Map<?, ?>) spec).get("invalid")));
            } else {
                throw new IllegalArgumentException("key columns of " + topic + ": expected a list, null or {\"invalid\": text}, found "
                        + Py.repr(spec));
            }
        }
    }

    /**
     * The decoded struct of each row as a Column: {@code decode(config, col("key"), col("value"), col("topic"))}.
     * Non-deterministic on purpose, so the optimizer never duplicates the call (once per field, or once
     * more in a pushed-down filter): each record is decoded exactly once.
     */
    public static Column decode(String keyColumnsByTopicJson, Column key, Column value, Column topic) {
        return functions.udf(new DebeziumDecoder(keyColumnsByTopicJson), RESULT_TYPE)
                .asNondeterministic()
                .withName("debezium_decode")
                .apply(key, value, topic);
    }

    @Override
    public Row call(byte[] key, byte[] value, String topic) {
        try {
            return decodeOne(key, value, topic);
        } catch (StackOverflowError e) {
            return errorRow(key, value, "decoder_failure", describe(e));
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable e) {  // a decoder bug must not stop the stream either; keep the evidence
            return errorRow(key, value, "decoder_failure", describe(e));
        }
    }

    static String describe(Throwable e) {
        if (e instanceof PyException) return ((PyException) e).described();
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private Row decodeOne(byte[] key, byte[] value, String topic) throws PyException {
        TopicConfig config = topic == null ? null : topics.get(topic);
        if (config == null) {
            return errorRow(key, value, "unconfigured_topic", "topic " + (topic == null ? "None" : Py.strRepr(topic))
                    + " is not listed under tables: in the pipeline config");
        }
        if (config.invalid != null) return errorRow(key, value, "decoder_failure", "ValueError: " + config.invalid);
        Decoder.ChangeEvent event;
        try {
            event = Decoder.decodeRecord(key, value, config.keyColumns);
        } catch (DecodeException e) {
            return errorRow(key, value, e.kind, e.reason);
        }
        if (event == null) {
            return RowFactory.create(KIND_TOMBSTONE, null, null, null, null, null, null, null, null, null, null, null, null,
                    null, null);
        }
        Instant sourceTs = sourceTs(event.sourceTsMs);
        StringBuilder keyJson = new StringBuilder(32).append('[');
        boolean first = true;
        for (Object v : event.key.values()) {
            if (!first) keyJson.append(',');
            first = false;
            Py.jsonAscii(Py.canonical(v), keyJson);
        }
        keyJson.append(']');
        Map<String, String> values = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : event.row.entrySet()) {
            values.put(wellFormed(e.getKey()), wellFormed(Py.canonical(e.getValue())));
        }
        StringBuilder columns = new StringBuilder(64).append('[');
        first = true;
        for (Decoder.Column c : event.columns) {
            if (!first) columns.append(',');
            first = false;
            columns.append('[');
            Py.jsonAscii(c.name, columns);
            columns.append(',');
            Py.jsonAscii(c.type, columns);
            columns.append(',').append(c.nullable ? "true" : "false").append(']');
        }
        columns.append(']');
        return RowFactory.create(KIND_CHANGE, event.op, new BigDecimal(event.seq), sourceTs, wellFormed(event.binlogFile),
                event.binlogPos, event.binlogRow, keyJson.toString(), values,
                event.before == null ? null : wellFormed(Py.imageToJson(event.before)), columns.toString(), null, null, null, null);
    }

    /**
     * The string with every unpaired surrogate (a Python str can hold one: JSON "\\ud800") replaced by
     * U+FFFD, as the Python decoder's rows arrive in Spark (Spark itself would write '?').
     */
    static String wellFormed(String s) {
        if (s == null) return null;
        int n = s.length();
        int i = 0;
        while (i < n && !Character.isSurrogate(s.charAt(i))) i++;
        if (i == n) return s;
        StringBuilder sb = new StringBuilder(n).append(s, 0, i);
        while (i < n) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                sb.append(c).append(s.charAt(i + 1));
                i += 2;
                continue;
            }
            sb.append(Character.isSurrogate(c) ? '\ufffd' : c);
            i++;
        }
        return sb.toString();
    }

    private static final long MIN_MS = -62_135_596_800_000L;  // 0001-01-01T00:00:00Z
    private static final long MAX_MS = 253_402_300_799_999L;  // 9999-12-31T23:59:59.999Z
    private static final BigInteger US_PER_DAY = BigInteger.valueOf(86_400_000_000L);

    /**
     * ChangeEvent.source_ts: epoch + timedelta(milliseconds=ts_ms). Out of datetime's range the Python
     * decoder raises OverflowError outside its try (the task fails); here the record becomes a
     * decoder_failure with the text Python's OverflowError carries.
     */
    static Instant sourceTs(Object tsMs) throws PyException {
        if (tsMs instanceof Long && (Long) tsMs >= MIN_MS && (Long) tsMs <= MAX_MS) return Instant.ofEpochMilli((Long) tsMs);
        BigInteger ms = tsMs instanceof Long ? BigInteger.valueOf((Long) tsMs) : (BigInteger) tsMs;
        BigInteger[] qr = ms.multiply(BigInteger.valueOf(1000)).divideAndRemainder(US_PER_DAY);
        BigInteger days = qr[1].signum() < 0 ? qr[0].subtract(BigInteger.ONE) : qr[0];
        if (days.bitLength() > 31) throw new PyException("OverflowError", "Python int too large to convert to C int");
        if (days.abs().compareTo(BigInteger.valueOf(999_999_999L)) > 0) {
            throw new PyException("OverflowError", "days=" + days + "; must have magnitude <= 999999999");
        }
        throw new PyException("OverflowError", "date value out of range");
    }

    private static Row errorRow(byte[] key, byte[] value, String kind, String reason) {
        return RowFactory.create(KIND_ERROR, null, null, null, null, null, null, null, null, null, null, kind, wellFormed(reason),
                key, value);
    }

    // --- test hooks (called from Python through py4j) --------------------------------------------------

    /** How many Kafka values and keys this JVM decoded from a cached schema on: "values,keys". */
    public static String schemaCacheHits() {
        return SchemaCache.VALUES.hits.sum() + "," + SchemaCache.KEYS.hits.sum();
    }

    /** repr() of each double given as 16 hex digits of its bits, one per line, as lines. */
    public static String floatReprs(String hexBitsLines) {
        StringBuilder out = new StringBuilder();
        for (String line : hexBitsLines.split("\n")) {
            if (line.isEmpty()) continue;
            out.append(Py.floatRepr(Double.longBitsToDouble(Long.parseUnsignedLong(line, 16)))).append('\n');
        }
        return out.toString();
    }
}

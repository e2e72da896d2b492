package io.cdcpipeline.debezium;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A port of cdc_pipeline/debezium.py's decode_record: the same checks in the same order, the same
 * DecodeError kinds and reason texts, the same values (in the value model described in {@link Py}).
 */
final class Decoder {
    private Decoder() {}

    static final String UNAVAILABLE_VALUE = "__debezium_unavailable_value";
    private static final byte[] UNAVAILABLE_BYTES = UNAVAILABLE_VALUE.getBytes(StandardCharsets.UTF_8);
    static final String UNAVAILABLE_DETAIL = "Debezium's placeholder '" + UNAVAILABLE_VALUE + "' means the value "
            + "was not captured; writing it would overwrite real data, so the event is rejected";

    private static final BigInteger FILE_NUMBER_LIMIT = BigInteger.TEN.pow(20);
    private static final BigInteger POS_LIMIT = BigInteger.TEN.pow(12);
    private static final BigInteger ROW_LIMIT = BigInteger.TEN.pow(6);
    private static final int MAX_DECIMAL_PRECISION = 38;
    static final String EMPTY_VALUE = "the value is empty (0 bytes), not null: Debezium writes a tombstone as a null "
            + "value, so this record is neither a change event nor a tombstone";
    static final String TRUNCATE_NOT_APPLIED = "TRUNCATE TABLE in MySQL, not applied: both sinks keep the table's rows "
            + "until it is re-snapshotted (README: TRUNCATE)";

    static final class Column {
        final String name;
        final String type;
        final boolean nullable;

        Column(String name, String type, boolean nullable) {
            this.name = name;
            this.type = type;
            this.nullable = nullable;
        }
    }

    static final class ChangeEvent {
        String table;
        String op;
        BigInteger seq;
        Object sourceTsMs;  // Long or BigInteger
        String binlogFile;
        long binlogPos;
        int binlogRow;
        Map<String, Object> key;
        Map<String, Object> row;
        Map<String, Object> before;
        List<Column> columns;
    }

    private static DecodeException error(String kind, String reason) {
        return new DecodeException(kind, reason);
    }

    private static boolean isInt(Object v) {
        return v instanceof Long || v instanceof BigInteger;
    }

    private static BigInteger big(Object intValue) {
        return intValue instanceof Long ? BigInteger.valueOf((Long) intValue) : (BigInteger) intValue;
    }

    /** str(int), raising like CPython past 4300 digits. */
    private static String intStr(BigInteger n) throws PyException {
        Py.decimalDigits(n);
        return n.toString();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object v) {
        return (Map<String, Object>) v;
    }

    // --- public entry point ---------------------------------------------------------------------------

    /** decode_record for a validated key_columns (null: the Kafka key); null for a tombstone. */
    static ChangeEvent decodeRecord(byte[] key, byte[] value, List<String> keyColumns) throws DecodeException, PyException {
        if (value == null) return null;
        if (value.length == 0) throw error("empty_value", EMPTY_VALUE);
        SchemaCache.Parsed parsed = parseJson(value, "value");
        Object envelope = parsed.document;
        // _envelope_parts
        if (!(envelope instanceof Map)) {
            throw error("not_an_envelope", "value must be a JSON object with schema and payload, found " + Py.show(envelope));
        }
        Map<String, Object> env = map(envelope);
        Object payloadValue = env.get("payload");
        if (!(payloadValue instanceof Map)) {
            throw error("not_an_envelope", "value has no payload object (found " + Py.show(payloadValue) + "); top-level keys: "
                    + Py.listRepr(Py.sorted(env.keySet())));
        }
        Map<String, Object> payload = map(payloadValue);
        List<String> missing = new ArrayList<>();
        for (String name : new String[] {"op", "source"}) {
            if (!payload.containsKey(name)) missing.add(name);
        }
        if (!missing.isEmpty()) {
            throw error("not_an_envelope", "payload lacks " + String.join(", ", missing) + "; a Debezium envelope has before, "
                    + "after, source, op (found keys " + Py.listRepr(Py.sorted(payload.keySet())) + ")");
        }
        if (!(payload.get("source") instanceof Map)) {
            throw error("not_an_envelope", "payload.source must be an object, found " + Py.show(payload.get("source")));
        }
        Object schemaValue = env.get("schema");
        if (!(schemaValue instanceof Map)) {
            throw error("not_an_envelope", "value has no embedded schema (found " + Py.show(schemaValue) + "); the "
                    + "JsonConverter must run with schemas.enable=true");
        }
        Map<String, Object> schema = map(schemaValue);

        Object opValue = payload.get("op");
        if ("t".equals(opValue)) {
            throw error("truncate", sourceTable(map(payload.get("source"))) + ": " + TRUNCATE_NOT_APPLIED);
        }
        if (!(opValue instanceof String) || !isOp((String) opValue)) {
            throw error("unknown_op", "op must be one of r, c, u, d; found " + Py.show(opValue));
        }
        String op = (String) opValue;
        Map<String, Object> source = map(payload.get("source"));
        String table = sourceTable(source);
        ChangeEvent event = new ChangeEvent();
        event.table = table;
        event.op = op;
        event.sourceTsMs = sourceTsMs(source, table);
        sourcePosition(source, table, event);

        Map<String, Object>[] imageSchemas = imageSchemas(schema, table);
        boolean delete = op.equals("d");
        String rowLabel = delete ? "before" : "after";
        Object rowPayload = payload.get(rowLabel);
        if (rowPayload == null) {
            throw error("not_an_envelope", table + ": op " + Py.strRepr(op) + " needs a " + Py.strRepr(rowLabel)
                    + " image, found " + Py.show(null));
        }
        Map<String, Object> row = new LinkedHashMap<>();
        List<Column> columns = decodeImage(rowPayload, imageSchemas[delete ? 0 : 1], table, rowLabel, row, parsed.entry);
        Map<String, Object> before = null;
        if (delete) {
            before = new LinkedHashMap<>(row);
        } else if (op.equals("u") && payload.get("before") != null) {
            before = new LinkedHashMap<>();
            decodeImage(payload.get("before"), imageSchemas[0], table, "before", before, parsed.entry);
        }
        Map<String, Object> kafkaKey = decodeKafkaKey(key, table);
        event.key = resolveKey(table, kafkaKey, keyColumns, row, columns, rowLabel);
        event.row = row;
        event.before = before;
        event.columns = columns;
        return event;
    }

    private static boolean isOp(String op) {
        return op.equals("r") || op.equals("c") || op.equals("u") || op.equals("d");
    }

    // --- envelope -------------------------------------------------------------------------------------

    /** _parse_json, through the schema cache (see SchemaCache). */
    static SchemaCache.Parsed parseJson(byte[] raw, String what) throws DecodeException, PyException {
        SchemaCache cache = what.equals("key") ? SchemaCache.KEYS : SchemaCache.VALUES;
        SchemaCache.Parsed cached = cache.tryCached(raw);
        if (cached != null) return cached;
        int bad = PyJson.firstInvalidUtf8(raw);
        if (bad >= 0) {
            StringBuilder shown = new StringBuilder();
            Py.bytesRepr(new byte[] {raw[bad]}, shown);
            throw error("malformed_json", "Kafka " + what + " is not UTF-8: byte " + bad + " is " + shown);
        }
        String text = new String(raw, StandardCharsets.UTF_8);
        Object[] first = new Object[2];
        Object document;
        try {
            document = PyJson.loads(text, cache.maxDepth, first);
        } catch (PyJson.Failure e) {
            throw error("malformed_json", "Kafka " + what + " is not valid JSON: " + e.getMessage());
        }
        return new SchemaCache.Parsed(document, cache.remember(text, first));
    }

    private static String sourceTable(Map<String, Object> source) throws DecodeException {
        StringBuilder parts = new StringBuilder();
        for (String name : new String[] {"db", "table"}) {
            Object value = source.get(name);
            if (!(value instanceof String) || ((String) value).isEmpty()) {
                throw error("not_an_envelope", "source." + name + " must be a non-empty string, found " + Py.show(value));
            }
            if (parts.length() > 0) parts.append('.');
            parts.append((String) value);
        }
        return parts.toString();
    }

    private static Object sourceTsMs(Map<String, Object> source, String table) throws DecodeException {
        Object ts = source.get("ts_ms");
        if (ts == null) throw error("not_an_envelope", table + ": source.ts_ms is missing");
        if (!isInt(ts)) {
            throw error("type_mismatch", table + ": source.ts_ms: expected epoch milliseconds (int64), found " + Py.show(ts));
        }
        return ts;
    }

    // Python's '.' is anything but '\n' (UNIX_LINES); [0-9] and the literal dot are ASCII as there.
    private static final Pattern BINLOG_NAME = Pattern.compile(".+\\.([0-9]+)", Pattern.UNIX_LINES);

    private static void sourcePosition(Map<String, Object> source, String table, ChangeEvent event)
            throws DecodeException, PyException {
        Object file = source.get("file");
        Object pos = source.get("pos");
        Object row = source.get("row");
        if (!(file instanceof String) || ((String) file).isEmpty()) {
            throw error("missing_source_position", table + ": source.file must name the binlog file, found " + Py.show(file));
        }
        if (!isInt(pos)) {
            throw error("missing_source_position", table + ": source.pos must be an integer, found " + Py.show(pos));
        }
        if (!isInt(row)) {
            throw error("missing_source_position", table + ": source.row must be an integer, found " + Py.show(row));
        }
        String fileName = (String) file;
        String problem = null;
        BigInteger number = null;
        Matcher m = BINLOG_NAME.matcher(fileName);
        if (!m.matches()) {
            problem = "binlog file name must end in '.<digits>' like 'mysql-bin.000123', got " + Py.strRepr(fileName);
        } else {
            String digits = m.group(1);
            if (digits.length() > Py.MAX_STR_DIGITS) {  // int() refuses: a ValueError, not a SequenceError
                throw new PyException("ValueError", "Exceeds the limit (4300 digits) for integer string conversion: value has "
                        + digits.length() + " digits; use sys.set_int_max_str_digits() to increase the limit");
            }
            number = new BigInteger(digits);
            if (number.compareTo(FILE_NUMBER_LIMIT) >= 0) {
                problem = "binlog file number must be < 10**20, got " + number + " from " + Py.strRepr(fileName);
            }
        }
        BigInteger p = big(pos);
        BigInteger r = big(row);
        if (problem == null && (p.signum() < 0 || p.compareTo(POS_LIMIT) >= 0)) {
            problem = "binlog position must be in [0, 10**12), got " + p;
        }
        if (problem == null && (r.signum() < 0 || r.compareTo(ROW_LIMIT) >= 0)) {
            problem = "binlog row must be in [0, 10**6), got " + r;
        }
        if (problem != null) {
            throw error("missing_source_position", table + ": unusable binlog coordinates: " + problem);
        }
        event.binlogFile = fileName;
        event.binlogPos = p.longValue();
        event.binlogRow = r.intValue();
        event.seq = number.multiply(POS_LIMIT).add(p).multiply(ROW_LIMIT).add(r);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object>[] imageSchemas(Map<String, Object> schema, String table)
            throws DecodeException, PyException {
        Object fields = schema.get("fields");
        if (!"struct".equals(schema.get("type")) || !(fields instanceof List)) {
            throw error("not_an_envelope", table + ": the embedded schema must be a struct with fields, found " + Py.show(schema));
        }
        Map<String, Object> before = null;
        Map<String, Object> after = null;
        for (Object f : (List<Object>) fields) {
            if (!(f instanceof Map)) continue;
            Object name = map(f).get("field");
            if (name instanceof Map || name instanceof List) {  // a dict key must be hashable
                throw new PyException("TypeError", "unhashable type: '" + Py.typeName(name) + "'");
            }
            if ("before".equals(name)) before = map(f);
            else if ("after".equals(name)) after = map(f);
        }
        if (before == null) throw error("not_an_envelope", table + ": the embedded schema has no 'before' field");
        if (after == null) throw error("not_an_envelope", table + ": the embedded schema has no 'after' field");
        return new Map[] {before, after};
    }

    // --- row images -----------------------------------------------------------------------------------

    /** Raised by a converter; turned into DecodeError(type_mismatch) with the column named. */
    static final class Mismatch extends Exception {
        private static final long serialVersionUID = 1L;
        final String expected;
        final Object found;
        final String detail;

        Mismatch(String expected, Object found, String detail) {
            super(expected, null, false, false);
            this.expected = expected;
            this.found = found;
            this.detail = detail;
        }

        Mismatch(String expected, Object found) {
            this(expected, found, "");
        }
    }

    private static final class Unsupported extends Exception {
        private static final long serialVersionUID = 1L;

        Unsupported(String message) {
            super(message, null, false, false);
        }
    }

    interface Converter {
        Object convert(Object value) throws Mismatch, PyException;
    }

    private static final class Codec {
        final String sparkType;
        final Converter converter;

        Codec(String sparkType, Converter converter) {
            this.sparkType = sparkType;
            this.converter = converter;
        }
    }

    /** What _column_for makes of one field schema: a column and its codec, or the error it raises. */
    private static final class CompiledField {
        final Column column;
        final Codec codec;
        final String unsupported;  // _Unsupported's message
        final PyException failure;  // an exception Python lets through
        final boolean noName;

        CompiledField(Column column, Codec codec, String unsupported, PyException failure, boolean noName) {
            this.column = column;
            this.codec = codec;
            this.unsupported = unsupported;
            this.failure = failure;
            this.noName = noName;
        }
    }

    /** The fields of an image schema compiled (errors kept, to be raised where Python raises them). */
    private static CompiledField[] compile(List<Object> fields) {
        CompiledField[] out = new CompiledField[fields.size()];
        for (int i = 0; i < out.length; i++) {
            Object field = fields.get(i);
            if (!(field instanceof Map) || !(map(field).get("field") instanceof String)
                    || ((String) map(field).get("field")).isEmpty()) {
                out[i] = new CompiledField(null, null, null, null, true);
                continue;
            }
            Map<String, Object> f = map(field);
            String name = (String) f.get("field");
            try {
                Codec codec = codec(f);
                out[i] = new CompiledField(new Column(name, codec.sparkType, Boolean.TRUE.equals(f.get("optional"))), codec,
                        null, null, false);
            } catch (Unsupported err) {
                out[i] = new CompiledField(new Column(name, null, false), null, err.getMessage(), null, false);
            } catch (PyException err) {
                out[i] = new CompiledField(null, null, null, err, false);
            }
        }
        return out;
    }

    /** _decode_image: fills row, returns the columns. entry: the schema cache entry of the document, if any. */
    @SuppressWarnings("unchecked")
    private static List<Column> decodeImage(Object image, Map<String, Object> schema, String table, String label,
                                            Map<String, Object> row, SchemaCache.Entry entry)
            throws DecodeException, PyException {
        Object fields = schema.get("fields");
        if (!"struct".equals(schema.get("type")) || !(fields instanceof List)) {
            throw error("schema_incompatible", table + ": the " + label + " schema must be a struct with fields, found "
                    + Py.show(schema));
        }
        if (!(image instanceof Map)) {
            throw error("not_an_envelope", table + ": the " + label + " image must be an object, found " + Py.show(image));
        }
        Map<String, Object> values = map(image);
        List<Object> fieldList = (List<Object>) fields;
        CompiledField[] compiled = entry == null ? null : (CompiledField[]) entry.compiled(schema);
        if (compiled == null) {
            compiled = compile(fieldList);
            if (entry != null) entry.remember(schema, compiled);
        }
        List<Column> columns = new ArrayList<>(fieldList.size());
        for (int i = 0; i < compiled.length; i++) {
            CompiledField cf = compiled[i];
            if (cf.noName) {
                throw error("schema_incompatible", table + ": a field of the " + label + " schema has no name: "
                        + Py.show(fieldList.get(i)));
            }
            if (cf.failure != null) throw cf.failure;
            String name = cf.column.name;
            if (cf.unsupported != null) {
                throw error("schema_incompatible", "column " + table + "." + name + " in the " + label + " schema: " + cf.unsupported);
            }
            Codec codec = cf.codec;
            Column column = cf.column;
            if (row.containsKey(name)) {
                throw error("schema_incompatible", table + ": the " + label + " schema lists column " + Py.strRepr(name) + " twice");
            }
            Object raw = values.get(name);
            Object value;
            if (raw == null) {
                if (!column.nullable) {
                    throw error("type_mismatch", "column " + table + "." + name + " in the " + label + " image: expected a "
                            + "non-null " + column.type + " (the schema says optional=false), found null");
                }
                value = null;
            } else {
                try {
                    value = codec.converter.convert(raw);
                } catch (Mismatch err) {
                    String detail = err.detail.isEmpty() ? "" : " (" + err.detail + ")";
                    throw error("type_mismatch", "column " + table + "." + name + " in the " + label + " image: expected "
                            + err.expected + ", found " + Py.show(err.found != null ? err.found : raw) + detail);
                }
            }
            columns.add(column);
            row.put(name, value);
        }
        if (values.size() > row.size() || !row.keySet().containsAll(values.keySet())) {
            List<String> extra = new ArrayList<>();
            for (String k : values.keySet()) {
                if (!row.containsKey(k)) extra.add(k);
            }
            if (!extra.isEmpty()) {
                throw error("schema_incompatible", table + ": the " + label + " image has fields that are not in its schema: "
                        + Py.listRepr(Py.sorted(extra)) + " (schema columns: " + Py.listRepr(row.keySet()) + ")");
            }
        }
        return columns;
    }

    private static Codec codec(Map<String, Object> field) throws Unsupported, PyException {
        Object kind = field.get("type");
        Object name = field.get("name");
        if (!(kind instanceof String) || (name != null && !(name instanceof String))) {
            throw new Unsupported("schema type and name must be strings, found type=" + Py.repr(kind) + " name=" + Py.repr(name));
        }
        String k = (String) kind;
        String n = (String) name;
        if (k.equals("struct") || k.equals("array") || k.equals("map")) {
            throw new Unsupported("type " + Py.strRepr(k) + (n != null && !n.isEmpty() ? " (" + n + ")" : "")
                    + " is not supported; only scalar columns are");
        }
        if ("org.apache.kafka.connect.data.Decimal".equals(n)) return decimalCodec(field);
        if (n != null) {
            Codec named = NAMED.get(n + "\u0000" + k);
            if (named != null) return named;
        }
        Codec primitive = PRIMITIVES.get(k);
        if (primitive == null) throw new Unsupported("unknown schema type " + Py.strRepr(k));
        return primitive;
    }

    /** int() of a decimal parameter; a Decimal with a huge exponent is clamped (only its size matters). */
    private static BigInteger paramInt(Object v) throws PyException {
        if (v instanceof PyDecimal) {
            PyDecimal d = (PyDecimal) v;
            long intDigits = d.coefficient.abs().bitLength() * 30103L / 100000L + 1 + d.exponent;  // about |int(d)|'s digits
            if (d.isZero() || intDigits < -1) return BigInteger.ZERO;
            if (intDigits > 4400) return BigInteger.TEN.pow(4400).multiply(BigInteger.valueOf(d.signum()));
        }
        return Py.toInt(v);
    }

    private static Codec decimalCodec(Map<String, Object> field) throws Unsupported, PyException {
        Object params = field.get("parameters");
        if (!Py.truthy(params)) params = new LinkedHashMap<String, Object>();
        BigInteger scale;
        try {
            if (!(params instanceof Map)) throw new PyException("TypeError", "not subscriptable");
            if (!map(params).containsKey("scale")) throw new PyException("KeyError", "'scale'");
            scale = paramInt(map(params).get("scale"));
        } catch (PyException err) {
            if (err.type.equals("OverflowError")) throw err;
            throw new Unsupported("Decimal needs an integer 'scale' parameter, found " + Py.repr(params));
        }
        Object rawPrecision = map(params).get("connect.decimal.precision");
        BigInteger precision;
        try {
            precision = rawPrecision == null ? BigInteger.valueOf(MAX_DECIMAL_PRECISION) : paramInt(rawPrecision);
        } catch (PyException err) {
            if (err.type.equals("OverflowError")) throw err;
            throw new Unsupported("connect.decimal.precision must be an integer, found " + Py.repr(rawPrecision));
        }
        precision = precision.min(BigInteger.valueOf(MAX_DECIMAL_PRECISION));
        if (scale.signum() < 0 || scale.compareTo(precision) > 0 || precision.signum() < 1) {
            throw new Unsupported("Decimal precision " + intStr(precision) + " / scale " + intStr(scale)
                    + " cannot be a Spark decimal (0 <= scale <= precision <= 38)");
        }
        int p = precision.intValue();
        int s = scale.intValue();
        String sparkType = "decimal(" + p + "," + s + ")";
        return new Codec(sparkType, value -> convertDecimal(value, p, s, sparkType));
    }

    private static Object convertDecimal(Object value, int precision, int scale, String sparkType)
            throws Mismatch, PyException {
        BigInteger unscaled;
        PyDecimal result;
        if (value instanceof String) {
            byte[] raw = base64((String) value, sparkType);
            if (raw.length == 0) throw new Mismatch(sparkType + " as base64 two's complement bytes", value, "no bytes");
            unscaled = new BigInteger(raw);
            Py.decimalDigits(unscaled);  // str(abs(unscaled)) raises past 4300 digits
            result = new PyDecimal(new BigDecimal(unscaled, scale), false);
        } else if (isInt(value) || value instanceof PyDecimal) {  // decimal.format=NUMERIC
            BigDecimal number;
            boolean negativeZero = false;
            if (value instanceof PyDecimal) {
                PyDecimal d = (PyDecimal) value;
                number = d.value;
                negativeZero = d.negativeZero;
                if (number == null && !d.isZero()) {  // an exponent beyond BigDecimal: too many digits or places
                    throw new Mismatch(sparkType, value, d.exponent > 0 ? "more than " + precision + " digits"
                            : "more than " + scale + " decimal places");
                }
            } else {
                number = new BigDecimal(big(value));
            }
            if (number == null || number.signum() == 0) {
                result = new PyDecimal(BigDecimal.ZERO.setScale(scale), negativeZero);
                unscaled = BigInteger.ZERO;
            } else {
                // number.quantize(Decimal(1).scaleb(-scale), context=Context(prec=200, traps=[InvalidOperation]))
                long digits = number.precision();
                long adjusted = digits - (long) number.scale() - 1;
                if (adjusted > 999_999 || adjusted + scale + 1 > 200) {
                    throw new Mismatch(sparkType, value, "more than " + precision + " digits");
                }
                long drop = (long) number.scale() - scale;  // digits past the target exponent
                BigInteger u = number.unscaledValue();
                if (drop <= 0) {
                    unscaled = u.multiply(BigInteger.TEN.pow((int) -drop));
                } else {
                    BigInteger[] qr = drop < digits ? u.divideAndRemainder(BigInteger.TEN.pow((int) drop)) : null;
                    if (qr == null || qr[1].signum() != 0) {  // rounding changes the value
                        if (adjusted + scale + 1 == 200 && drop < digits
                                && number.setScale(scale, RoundingMode.HALF_EVEN).precision() > 200) {
                            throw new Mismatch(sparkType, value, "more than " + precision + " digits");
                        }
                        throw new Mismatch(sparkType, value, "more than " + scale + " decimal places");
                    }
                    unscaled = qr[0];
                }
                result = new PyDecimal(new BigDecimal(unscaled, scale), false);
            }
        } else {
            throw new Mismatch(sparkType + " as a base64 string", value);
        }
        if (Py.decimalDigits(unscaled) > precision) {
            throw new Mismatch(sparkType, value, result.str() + " has more than " + precision + " digits");
        }
        return result;
    }

    private static final int[] B64 = new int[128];

    static {
        java.util.Arrays.fill(B64, -1);
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < alphabet.length(); i++) B64[alphabet.charAt(i)] = i;
    }

    /** base64.b64decode(s, validate=True) of CPython 3.11 (binascii strict mode), or null if it raises. */
    static byte[] b64decodeStrict(String s) {
        int n = s.length();
        byte[] out = new byte[n / 4 * 3 + 3];
        int o = 0;
        if (n > 0 && s.charAt(0) == '=') return null;
        int quadPos = 0;
        int left = 0;
        int pads = 0;
        boolean paddingStarted = false;
        for (int i = 0; i < n; i++) {
            char ch = s.charAt(i);
            if (ch > 127) return null;  // str.encode('ascii') fails
            if (ch == '=') {
                paddingStarted = true;  // '=' at a quad boundary is skipped, data after it is refused
                if (quadPos >= 2 && quadPos + ++pads >= 4) {
                    if (i + 1 < n) return null;
                    return java.util.Arrays.copyOf(out, o);
                }
                continue;
            }
            int v = B64[ch];
            if (v < 0) return null;
            if (paddingStarted) return null;
            pads = 0;
            switch (quadPos) {
                case 0:
                    quadPos = 1;
                    left = v;
                    break;
                case 1:
                    quadPos = 2;
                    out[o++] = (byte) ((left << 2) | (v >> 4));
                    left = v & 0x0f;
                    break;
                case 2:
                    quadPos = 3;
                    out[o++] = (byte) ((left << 4) | (v >> 2));
                    left = v & 0x03;
                    break;
                default:
                    quadPos = 0;
                    out[o++] = (byte) ((left << 6) | v);
                    left = 0;
                    break;
            }
        }
        if (quadPos != 0) return null;
        return java.util.Arrays.copyOf(out, o);
    }

    private static byte[] base64(String value, String expected) throws Mismatch {
        byte[] raw = b64decodeStrict(value);
        if (raw == null) throw new Mismatch(expected + " as base64", value, "invalid base64");
        if (java.util.Arrays.equals(raw, UNAVAILABLE_BYTES)) throw new Mismatch(expected, value, UNAVAILABLE_DETAIL);
        return raw;
    }

    private static Converter intCodec(int bits) {
        BigInteger low = BigInteger.ONE.shiftLeft(bits - 1).negate();
        BigInteger high = BigInteger.ONE.shiftLeft(bits - 1).subtract(BigInteger.ONE);
        long lo = low.longValue();
        long hi = high.longValue();
        String typeText = "int" + bits + " (a JSON integer)";
        String rangeText = "int" + bits + " in [" + low + ", " + high + "]";
        return value -> {
            if (!isInt(value)) throw new Mismatch(typeText, value);
            if (!(value instanceof Long) || (Long) value < lo || (Long) value > hi) throw new Mismatch(rangeText, value);
            return value;
        };
    }

    private static Converter floatCodec(int bits) {
        String expected = "float" + bits + " (a JSON number)";
        return value -> {
            if (value instanceof String) {
                switch ((String) value) {
                    case "NaN": return Double.NaN;
                    case "Infinity": return Double.POSITIVE_INFINITY;
                    case "-Infinity": return Double.NEGATIVE_INFINITY;
                    default: break;
                }
            }
            if (value instanceof Long) return (double) (Long) value;  // exact below 2**53, else round-half-even as float(int)
            if (value instanceof BigInteger) {
                double d = ((BigInteger) value).doubleValue();
                if (Double.isInfinite(d)) throw new PyException("OverflowError", "int too large to convert to float");
                return d;
            }
            if (value instanceof Double) return value;
            if (value instanceof PyDecimal) return ((PyDecimal) value).toDouble();
            throw new Mismatch(expected, value);
        };
    }

    private static Object string(Object value) throws Mismatch {
        if (!(value instanceof String)) throw new Mismatch("string", value);
        if (value.equals(UNAVAILABLE_VALUE)) throw new Mismatch("string", value, UNAVAILABLE_DETAIL);
        return value;
    }

    private static Object bool(Object value) throws Mismatch {
        if (!(value instanceof Boolean)) throw new Mismatch("boolean (true/false)", value);
        return value;
    }

    private static Object bytes(Object value) throws Mismatch {
        if (!(value instanceof String)) throw new Mismatch("bytes as a base64 string", value);
        return base64((String) value, "bytes");
    }

    private static final Converter INT32 = intCodec(32);
    private static final long MIN_EPOCH_DAY = LocalDate.of(1, 1, 1).toEpochDay();
    private static final long MAX_EPOCH_DAY = LocalDate.of(9999, 12, 31).toEpochDay();

    private static Object date(Object value) throws Mismatch, PyException {
        long days = (Long) INT32.convert(value);
        if (days < MIN_EPOCH_DAY || days > MAX_EPOCH_DAY) {
            throw new Mismatch("a date (days since 1970-01-01) within years 1..9999", value);
        }
        return LocalDate.ofEpochDay(days);
    }

    private static final long MIN_MICROS = LocalDateTime.of(1, 1, 1, 0, 0).toEpochSecond(ZoneOffset.UTC) * 1_000_000L;
    private static final long MAX_MICROS = LocalDateTime.of(9999, 12, 31, 23, 59, 59).toEpochSecond(ZoneOffset.UTC) * 1_000_000L
            + 999_999L;

    static LocalDateTime fromMicros(long micros) {
        return LocalDateTime.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), (int) Math.floorMod(micros, 1_000_000L) * 1000,
                ZoneOffset.UTC);
    }

    private static Converter naiveTimestamp(long perSecond, String unit) {
        String typeText = "a timestamp in epoch " + unit + " (int64)";
        String rangeText = "a timestamp in epoch " + unit + " within years 1..9999";
        BigInteger million = BigInteger.valueOf(1_000_000L);
        BigInteger per = BigInteger.valueOf(perSecond);
        return value -> {
            if (!isInt(value)) throw new Mismatch(typeText, value);
            long micros;
            if (value instanceof Long && (Long) value > -(1L << 53) && (Long) value < 1L << 53) {  // value * 10**6 // per_second
                long v = (Long) value;
                micros = perSecond == 1_000L ? v * 1_000L : perSecond == 1_000_000L ? v : Math.floorDiv(v, perSecond / 1_000_000L);
            } else {
                BigInteger[] qr = big(value).multiply(million).divideAndRemainder(per);
                BigInteger exact = qr[1].signum() < 0 ? qr[0].subtract(BigInteger.ONE) : qr[0];
                if (exact.bitLength() >= 64) throw new Mismatch(rangeText, value);
                micros = exact.longValue();
            }
            if (micros < MIN_MICROS || micros > MAX_MICROS) throw new Mismatch(rangeText, value);
            return fromMicros(micros);
        };
    }

    private static final Pattern ZONED = Pattern.compile(
            "(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?(Z|[+-]\\d{2}:\\d{2}(?::\\d{2})?)");
    private static final String ZONED_EXPECTED = "an ISO-8601 timestamp with zone like '2026-11-22T04:04:35.799731Z'";

    private static Object zonedTimestamp(Object value) throws Mismatch {
        if (!(value instanceof String)) throw new Mismatch(ZONED_EXPECTED, value);
        if (value.equals(UNAVAILABLE_VALUE)) throw new Mismatch(ZONED_EXPECTED, value, UNAVAILABLE_DETAIL);
        Matcher m = ZONED.matcher((String) value);
        if (!m.matches()) throw new Mismatch(ZONED_EXPECTED, value);
        int year = Integer.parseInt(m.group(1));
        int month = Integer.parseInt(m.group(2));
        int day = Integer.parseInt(m.group(3));
        int hour = Integer.parseInt(m.group(4));
        int minute = Integer.parseInt(m.group(5));
        int second = Integer.parseInt(m.group(6));
        String fraction = m.group(7) == null ? "" : m.group(7);
        int micros = Integer.parseInt((fraction + "000000").substring(0, 6));
        String zone = m.group(8);
        long offsetSeconds = 0;
        if (!zone.equals("Z")) {
            long sign = zone.charAt(0) == '-' ? -1 : 1;
            String[] parts = zone.substring(1).split(":");
            long total = Long.parseLong(parts[0]) * 3600 + Long.parseLong(parts[1]) * 60
                    + (parts.length > 2 ? Long.parseLong(parts[2]) : 0);
            offsetSeconds = sign * total;
            if (offsetSeconds <= -86400 || offsetSeconds >= 86400) {
                throw new Mismatch(ZONED_EXPECTED, value, "offset must be a timedelta strictly between "
                        + "-timedelta(hours=24) and timedelta(hours=24), not " + timedeltaRepr(offsetSeconds) + ".");
            }
        }
        String invalid = null;
        if (year < 1) invalid = "year " + year + " is out of range";
        else if (month < 1 || month > 12) invalid = "month must be in 1..12";
        else if (day < 1 || day > java.time.YearMonth.of(year, month).lengthOfMonth()) invalid = "day is out of range for month";
        else if (hour > 23) invalid = "hour must be in 0..23";
        else if (minute > 59) invalid = "minute must be in 0..59";
        else if (second > 59) invalid = "second must be in 0..59";
        if (invalid != null) throw new Mismatch(ZONED_EXPECTED, value, invalid);
        LocalDateTime local = LocalDateTime.of(year, month, day, hour, minute, second, micros * 1000);
        LocalDateTime utc = local.minusSeconds(offsetSeconds);
        if (utc.getYear() < 1 || utc.getYear() > 9999) throw new Mismatch(ZONED_EXPECTED, value, "date value out of range");
        return new Py.UtcDateTime(utc);
    }

    /** repr(timedelta(seconds=s)). */
    static String timedeltaRepr(long seconds) {
        long days = Math.floorDiv(seconds, 86400L);
        long rest = Math.floorMod(seconds, 86400L);
        List<String> args = new ArrayList<>();
        if (days != 0) args.add("days=" + days);
        if (rest != 0) args.add("seconds=" + rest);
        return "datetime.timedelta(" + (args.isEmpty() ? "0" : String.join(", ", args)) + ")";
    }

    private static Converter duration(long perSecond, String unit, int bits) {
        Converter check = intCodec(bits);
        String expected = "a time of day in " + unit + " (int" + bits + ")";
        return value -> {
            long amount;
            try {
                amount = (Long) check.convert(value);
            } catch (Mismatch e) {
                throw new Mismatch(expected, value);
            }
            String sign = amount < 0 ? "-" : "";
            long abs = amount < 0 ? -amount : amount;  // unsigned: |Long.MIN_VALUE| is 2**63
            long micros;
            if (perSecond == 1_000L) micros = abs * 1_000L;  // int32 milliseconds: fits
            else if (perSecond == 1_000_000L) micros = abs;
            else micros = Long.divideUnsigned(abs, 1_000L);
            long hours = Long.divideUnsigned(micros, 3_600_000_000L);
            long rest = Long.remainderUnsigned(micros, 3_600_000_000L);
            long minutes = rest / 60_000_000L;
            rest %= 60_000_000L;
            long seconds = rest / 1_000_000L;
            long us = rest % 1_000_000L;
            return String.format("%s%02d:%02d:%02d.%06d", sign, hours, minutes, seconds, us);
        };
    }

    private static final Map<String, Codec> PRIMITIVES = new HashMap<>();
    private static final Map<String, Codec> NAMED = new HashMap<>();

    private static void named(String name, String kind, String sparkType, Converter converter) {
        NAMED.put(name + "\u0000" + kind, new Codec(sparkType, converter));
    }

    static {
        PRIMITIVES.put("boolean", new Codec("boolean", Decoder::bool));
        PRIMITIVES.put("int8", new Codec("tinyint", intCodec(8)));
        PRIMITIVES.put("int16", new Codec("smallint", intCodec(16)));
        PRIMITIVES.put("int32", new Codec("int", INT32));
        PRIMITIVES.put("int64", new Codec("bigint", intCodec(64)));
        PRIMITIVES.put("float32", new Codec("float", floatCodec(32)));
        PRIMITIVES.put("float64", new Codec("double", floatCodec(64)));
        PRIMITIVES.put("string", new Codec("string", Decoder::string));
        PRIMITIVES.put("bytes", new Codec("binary", Decoder::bytes));

        named("io.debezium.time.Date", "int32", "date", Decoder::date);
        named("org.apache.kafka.connect.data.Date", "int32", "date", Decoder::date);
        named("io.debezium.time.Timestamp", "int64", "timestamp_ntz", naiveTimestamp(1_000L, "milliseconds"));
        named("io.debezium.time.MicroTimestamp", "int64", "timestamp_ntz", naiveTimestamp(1_000_000L, "microseconds"));
        named("io.debezium.time.NanoTimestamp", "int64", "timestamp_ntz", naiveTimestamp(1_000_000_000L, "nanoseconds"));
        named("org.apache.kafka.connect.data.Timestamp", "int64", "timestamp_ntz", naiveTimestamp(1_000L, "milliseconds"));
        named("io.debezium.time.ZonedTimestamp", "string", "timestamp", Decoder::zonedTimestamp);
        named("io.debezium.time.Time", "int32", "string", duration(1_000L, "milliseconds", 32));
        named("org.apache.kafka.connect.data.Time", "int32", "string", duration(1_000L, "milliseconds", 32));
        named("io.debezium.time.MicroTime", "int64", "string", duration(1_000_000L, "microseconds", 64));
        named("io.debezium.time.NanoTime", "int64", "string", duration(1_000_000_000L, "nanoseconds", 64));
        named("io.debezium.time.Year", "int32", "int", INT32);
        named("io.debezium.data.Bits", "bytes", "binary", Decoder::bytes);
        named("io.debezium.data.Json", "string", "string", Decoder::string);
        named("io.debezium.data.Enum", "string", "string", Decoder::string);
        named("io.debezium.data.EnumSet", "string", "string", Decoder::string);
    }

    // --- keys -----------------------------------------------------------------------------------------

    private static Map<String, Object> decodeKafkaKey(byte[] key, String table) throws DecodeException, PyException {
        if (key == null || key.length == 0) return null;
        SchemaCache.Parsed parsed = parseJson(key, "key");
        Object document = parsed.document;
        if (!(document instanceof Map) || !map(document).containsKey("schema") || !map(document).containsKey("payload")) {
            throw error("not_an_envelope", table + ": the Kafka key must be a JSON object with schema and payload, found "
                    + Py.show(document));
        }
        Map<String, Object> doc = map(document);
        if (doc.get("payload") == null) return null;
        Object schema = doc.get("schema");
        if (!(schema instanceof Map)) {
            throw error("not_an_envelope", table + ": the Kafka key has no schema object, found " + Py.show(schema));
        }
        Map<String, Object> values = new LinkedHashMap<>();
        decodeImage(doc.get("payload"), map(schema), table, "key", values, parsed.entry);
        return values;
    }

    private static Map<String, Object> resolveKey(String table, Map<String, Object> kafkaKey, List<String> keyColumns,
                                                  Map<String, Object> row, List<Column> columns, String rowLabel)
            throws DecodeException {
        List<String> names = new ArrayList<>(columns.size());
        for (Column c : columns) names.add(c.name);
        Map<String, Object> key;
        if (keyColumns != null) {
            List<String> missing = new ArrayList<>();
            for (String c : keyColumns) {
                if (!row.containsKey(c)) missing.add(c);
            }
            if (!missing.isEmpty()) {
                throw error("missing_key", table + ": key column(s) " + Py.listRepr(missing) + " are not columns of the "
                        + rowLabel + " image (columns: " + Py.listRepr(names) + ")");
            }
            key = new LinkedHashMap<>();
            for (String c : keyColumns) key.put(c, row.get(c));
            if (kafkaKey != null && !new HashSet<>(kafkaKey.keySet()).equals(new HashSet<>(keyColumns))) {
                throw error("schema_incompatible", table + ": the Kafka key has columns " + Py.listRepr(kafkaKey.keySet())
                        + " but the configured key columns are " + Py.listRepr(keyColumns));
            }
        } else if (kafkaKey != null) {
            List<String> outside = new ArrayList<>();
            for (String c : kafkaKey.keySet()) {
                if (!row.containsKey(c)) outside.add(c);
            }
            if (!outside.isEmpty()) {
                throw error("schema_incompatible", table + ": Kafka key column(s) " + Py.listRepr(outside) + " are not columns of the "
                        + rowLabel + " image (columns: " + Py.listRepr(names) + ")");
            }
            key = new LinkedHashMap<>(kafkaKey);
        } else {
            throw error("missing_key", table + ": the record has no Kafka key and no key columns are configured, so the row "
                    + "cannot be identified");
        }
        List<String> nulls = new ArrayList<>();
        for (Map.Entry<String, Object> e : key.entrySet()) {
            if (e.getValue() == null) nulls.add(e.getKey());
        }
        if (!nulls.isEmpty()) {
            throw error("missing_key", table + ": key column(s) " + Py.listRepr(nulls) + " are null in the " + rowLabel + " image");
        }
        if (kafkaKey != null) {
            for (Map.Entry<String, Object> e : kafkaKey.entrySet()) {
                Object rowValue = row.get(e.getKey());
                if (!Py.pyEquals(rowValue, e.getValue())) {
                    throw error("missing_key", table + ": the Kafka key says " + e.getKey() + "=" + Py.repr(e.getValue())
                            + " but the " + rowLabel + " image has " + e.getKey() + "=" + Py.repr(rowValue));
                }
            }
        }
        return key;
    }
}

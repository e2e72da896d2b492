package io.cdcpipeline.debezium;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code json.loads(text, parse_float=decimal.Decimal)} as CPython 3.11's C scanner (_json.c) reads it:
 * the same accepted documents, the same values (see Py for the value model; NaN/Infinity literals are
 * floats, numbers with a fraction or exponent Decimals, duplicate keys keep the first position and the
 * last value), and the same error messages with line/column/char positions counted in code points.
 */
final class PyJson {
    /**
     * Deepest nesting CPython accepts before RecursionError. Its limit (sys.getrecursionlimit(), 1000)
     * counts the Python frames below json.loads too, so the depth depends on the caller: these are the
     * depths measured for decode_partition inside a PySpark 3.5 worker (CPython 3.11), for the Kafka
     * value (decode_record -> _parse_json) and the Kafka key (one frame deeper).
     */
    static final int MAX_DEPTH_VALUE = 984;
    static final int MAX_DEPTH_KEY = 983;

    /** Any failure json.loads raises as ValueError/RecursionError; the message is str(err). */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message, null, false, false);
        }
    }

    /** The C scanner's StopIteration(idx): becomes "Expecting value" at idx. */
    static final class StopIteration extends Exception {
        private static final long serialVersionUID = 1L;
        final int pos;

        StopIteration(int pos) {
            super(null, null, false, false);
            this.pos = pos;
        }
    }

    private final String s;
    private final int len;
    private int next;
    private int depth;
    private final int maxDepth;
    private boolean captureFirst;
    private Object firstValue;
    private int firstValueEnd;

    private PyJson(String s, int maxDepth) {
        this.s = s;
        this.len = s.length();
        this.maxDepth = maxDepth;
    }

    static Object loads(String s) throws Failure, PyException {
        return loads(s, MAX_DEPTH_VALUE);
    }

    /** Throws Failure (json.loads' ValueError/RecursionError) or PyException (decimal.InvalidOperation). */
    static Object loads(String s, int maxDepth) throws Failure, PyException {
        return loads(s, maxDepth, null);
    }

    /**
     * json.loads; when the document starts with {@code {"schema":} (the JsonConverter's compact envelope)
     * and {@code first} is given, first[0] receives the value of that first member and first[1] the end
     * index (exclusive) of its text, for {@link SchemaCache}.
     */
    static Object loads(String s, int maxDepth, Object[] first) throws Failure, PyException {
        if (s.startsWith("\ufeff")) throw error(s, "Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
        PyJson p = new PyJson(s, maxDepth);
        p.captureFirst = first != null && s.startsWith(SchemaCache.PREFIX_TEXT);
        Object obj;
        try {
            obj = p.scan(p.skipWs(0));
        } catch (StopIteration e) {
            throw error(s, "Expecting value", e.pos);
        }
        int end = p.skipWs(p.next);
        if (end != s.length()) throw error(s, "Extra data", end);
        if (p.captureFirst && p.firstValueEnd > 0) {
            first[0] = p.firstValue;
            first[1] = p.firstValueEnd;
        }
        return obj;
    }

    /**
     * The rest of a {@code {"schema":<text>,...}} document whose schema text is a cached one: {@code rest}
     * is everything after that text, {@code schema} the value it parses to. Parses exactly as loads would
     * continue; throws on anything loads would report (the caller then decodes the whole document the
     * ordinary way, which reports it with the right positions).
     */
    static Map<String, Object> continueEnvelope(String rest, Object schema, int maxDepth)
            throws Failure, StopIteration, PyException {
        PyJson p = new PyJson(rest, maxDepth);
        p.depth = 1;  // inside the top-level object
        Map<String, Object> obj = new LinkedHashMap<>();
        obj.put("schema", schema);
        int endIdx = p.len - 1;
        int idx = p.skipWs(0);
        while (true) {
            if (idx <= endIdx && rest.charAt(idx) == '}') break;
            if (idx > endIdx || rest.charAt(idx) != ',') throw new StopIteration(idx);
            idx = p.skipWs(idx + 1);
            if (idx > endIdx || rest.charAt(idx) != '"') throw new StopIteration(idx);
            String key = p.scanString(idx + 1);
            idx = p.skipWs(p.next);
            if (idx > endIdx || rest.charAt(idx) != ':') throw new StopIteration(idx);
            idx = p.skipWs(idx + 1);
            Object value = p.scan(idx);
            obj.put(key, value);
            idx = p.skipWs(p.next);
        }
        if (p.skipWs(idx + 1) != rest.length()) throw new StopIteration(idx + 1);
        return obj;
    }

    /** JSONDecodeError's str: '%s: line %d column %d (char %d)', positions in code points. */
    private static Failure error(String s, String msg, int pos16) {
        int pos = s.codePointCount(0, pos16);
        int lineno = 1;
        int lastNl = -1;
        for (int i = 0; i < pos16; i++) {
            if (s.charAt(i) == '\n') {
                lineno++;
                lastNl = i;
            }
        }
        int colno = lastNl < 0 ? pos + 1 : pos - s.codePointCount(0, lastNl);
        return new Failure(msg + ": line " + lineno + " column " + colno + " (char " + pos + ")");
    }

    private Failure error(String msg, int pos16) {
        return error(s, msg, pos16);
    }

    private int skipWs(int idx) {
        while (idx < len) {
            char c = s.charAt(idx);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            idx++;
        }
        return idx;
    }

    private boolean at(int idx, String word) {
        return s.startsWith(word, idx);
    }

    private Object scan(int idx) throws Failure, StopIteration, PyException {
        if (idx >= len) throw new StopIteration(idx);
        switch (s.charAt(idx)) {
            case '"':
                return scanString(idx + 1);
            case '{':
                enter("object");
                try {
                    return parseObject(idx + 1);
                } finally {
                    depth--;
                }
            case '[':
                enter("array");
                try {
                    return parseArray(idx + 1);
                } finally {
                    depth--;
                }
            case 'n':
                if (idx + 3 < len && at(idx + 1, "ull")) {
                    next = idx + 4;
                    return null;
                }
                break;
            case 't':
                if (idx + 3 < len && at(idx + 1, "rue")) {
                    next = idx + 4;
                    return Boolean.TRUE;
                }
                break;
            case 'f':
                if (idx + 4 < len && at(idx + 1, "alse")) {
                    next = idx + 5;
                    return Boolean.FALSE;
                }
                break;
            case 'N':
                if (idx + 2 < len && at(idx + 1, "aN")) {
                    next = idx + 3;
                    return Double.NaN;
                }
                break;
            case 'I':
                if (idx + 7 < len && at(idx + 1, "nfinity")) {
                    next = idx + 8;
                    return Double.POSITIVE_INFINITY;
                }
                break;
            case '-':
                if (idx + 8 < len && at(idx + 1, "Infinity")) {
                    next = idx + 9;
                    return Double.NEGATIVE_INFINITY;
                }
                break;
            default:
                break;
        }
        return matchNumber(idx);
    }

    private void enter(String what) throws Failure {
        if (++depth > maxDepth) {
            depth--;
            throw new Failure("maximum recursion depth exceeded while decoding a JSON " + what + " from a unicode string");
        }
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private Object matchNumber(int start) throws Failure, StopIteration, PyException {
        int idx = start;
        int endIdx = len - 1;
        boolean isFloat = false;
        if (s.charAt(idx) == '-') {
            idx++;
            if (idx > endIdx) throw new StopIteration(start);
        }
        char c = s.charAt(idx);
        if (c >= '1' && c <= '9') {
            idx++;
            while (idx <= endIdx && isDigit(s.charAt(idx))) idx++;
        } else if (c == '0') {
            idx++;
        } else {
            throw new StopIteration(start);
        }
        if (idx < endIdx && s.charAt(idx) == '.' && isDigit(s.charAt(idx + 1))) {
            isFloat = true;
            idx += 2;
            while (idx <= endIdx && isDigit(s.charAt(idx))) idx++;
        }
        if (idx < endIdx && (s.charAt(idx) == 'e' || s.charAt(idx) == 'E')) {
            int eStart = idx;
            idx++;
            if (idx < endIdx && (s.charAt(idx) == '-' || s.charAt(idx) == '+')) idx++;
            while (idx <= endIdx && isDigit(s.charAt(idx))) idx++;
            if (isDigit(s.charAt(idx - 1))) isFloat = true;
            else idx = eStart;
        }
        next = idx;
        String text = s.substring(start, idx);
        if (isFloat) return PyDecimal.parse(text);
        int digits = text.length() - (text.charAt(0) == '-' ? 1 : 0);
        if (digits <= 18) return Long.parseLong(text);
        if (digits > Py.MAX_STR_DIGITS) {
            throw new Failure("Exceeds the limit (4300 digits) for integer string conversion: value has " + digits
                    + " digits; use sys.set_int_max_str_digits() to increase the limit");
        }
        return Py.normalize(new BigInteger(text));
    }

    private static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    /** scanstring_unicode: end is the index after the opening quote. */
    private String scanString(int end) throws Failure {
        final int begin = end - 1;
        StringBuilder sb = null;
        while (true) {
            int nxt = end;
            char c = 0;
            for (; nxt < len; nxt++) {
                c = s.charAt(nxt);
                if (c == '"' || c == '\\') break;
                if (c <= 0x1f) throw error("Invalid control character at", nxt);
            }
            if (nxt >= len) throw error("Unterminated string starting at", begin);
            if (c == '"' && sb == null) {  // the common case: no escapes
                next = nxt + 1;
                return s.substring(end, nxt);
            }
            if (sb == null) sb = new StringBuilder(nxt - end + 16);
            sb.append(s, end, nxt);
            nxt++;
            if (c == '"') {
                next = nxt;
                return sb.toString();
            }
            if (nxt == len) throw error("Unterminated string starting at", begin);
            c = s.charAt(nxt);
            if (c != 'u') {
                end = nxt + 1;
                switch (c) {
                    case '"': case '\\': case '/': break;
                    case 'b': c = '\b'; break;
                    case 'f': c = '\f'; break;
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    default: throw error("Invalid \\escape", end - 2);
                }
                sb.append(c);
            } else {
                nxt++;
                end = nxt + 4;
                if (end >= len) throw error("Invalid \\uXXXX escape", nxt - 1);
                int u = 0;
                for (; nxt < end; nxt++) {
                    int h = hex(s.charAt(nxt));
                    if (h < 0) throw error("Invalid \\uXXXX escape", end - 5);
                    u = (u << 4) | h;
                }
                if (Character.isHighSurrogate((char) u) && end + 6 < len
                        && s.charAt(nxt++) == '\\' && s.charAt(nxt++) == 'u') {
                    int u2 = 0;
                    end += 6;
                    for (; nxt < end; nxt++) {
                        int h = hex(s.charAt(nxt));
                        if (h < 0) throw error("Invalid \\uXXXX escape", end - 5);
                        u2 = (u2 << 4) | h;
                    }
                    if (Character.isLowSurrogate((char) u2)) {
                        sb.append((char) u).append((char) u2);
                        continue;
                    }
                    end -= 6;
                }
                sb.append((char) u);
            }
        }
    }

    private Map<String, Object> parseObject(int idx) throws Failure, StopIteration, PyException {
        Map<String, Object> obj = new LinkedHashMap<>();
        int endIdx = len - 1;
        idx = skipWs(idx);
        if (idx > endIdx || s.charAt(idx) != '}') {
            while (true) {
                if (idx > endIdx || s.charAt(idx) != '"') {
                    throw error("Expecting property name enclosed in double quotes", idx);
                }
                String key = scanString(idx + 1);
                idx = skipWs(next);
                if (idx > endIdx || s.charAt(idx) != ':') throw error("Expecting ':' delimiter", idx);
                idx = skipWs(idx + 1);
                Object value = scan(idx);
                if (captureFirst && depth == 1 && obj.isEmpty() && idx == SchemaCache.PREFIX_TEXT.length()) {
                    firstValue = value;
                    firstValueEnd = next;
                }
                obj.put(key, value);
                idx = skipWs(next);
                if (idx <= endIdx && s.charAt(idx) == '}') break;
                if (idx > endIdx || s.charAt(idx) != ',') throw error("Expecting ',' delimiter", idx);
                idx = skipWs(idx + 1);
            }
        }
        next = idx + 1;
        return obj;
    }

    private List<Object> parseArray(int idx) throws Failure, StopIteration, PyException {
        List<Object> list = new ArrayList<>();
        int endIdx = len - 1;
        idx = skipWs(idx);
        if (idx > endIdx || s.charAt(idx) != ']') {
            while (true) {
                list.add(scan(idx));
                idx = skipWs(next);
                if (idx <= endIdx && s.charAt(idx) == ']') break;
                if (idx > endIdx || s.charAt(idx) != ',') throw error("Expecting ',' delimiter", idx);
                idx = skipWs(idx + 1);
            }
        }
        next = idx + 1;
        return list;
    }

    /** Index of the first byte that starts an ill-formed UTF-8 sequence (CPython's err.start), or -1. */
    static int firstInvalidUtf8(byte[] b) {
        return firstInvalidUtf8(b, 0);
    }

    /** The same, for b[from:] (from at a character boundary). */
    static int firstInvalidUtf8(byte[] b, int from) {
        int n = b.length;
        int i = from;
        while (i < n) {
            int c = b[i];
            if (c >= 0) {
                i++;
                continue;
            }
            c &= 0xff;
            int need;
            int lo = 0x80;
            int hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                need = 2;
                if (c == 0xe0) lo = 0xa0;
                else if (c == 0xed) hi = 0x9f;
            } else if (c >= 0xf0 && c <= 0xf4) {
                need = 3;
                if (c == 0xf0) lo = 0x90;
                else if (c == 0xf4) hi = 0x8f;
            } else {
                return i;
            }
            if (i + need >= n) return i;
            int b1 = b[i + 1] & 0xff;
            if (b1 < lo || b1 > hi) return i;
            for (int k = 2; k <= need; k++) {
                int bk = b[i + k] & 0xff;
                if (bk < 0x80 || bk > 0xbf) return i;
            }
            i += need + 1;
        }
        return -1;
    }
}

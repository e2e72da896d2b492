package io.cdcpipeline.debezium;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The bits of CPython 3.11 the reference decoder's output depends on: repr() of the values JSON and the
 * codecs produce, float repr (shortest round-trip digits), str/format of Decimal, json.dumps of strings,
 * strftime/isoformat of datetimes, == between decoded values, int() of schema parameters.
 *
 * <p>Value model (Python type: Java class): None: null, bool: Boolean, int: Long or BigInteger (Long
 * whenever it fits), float: Double, decimal.Decimal: PyDecimal, str: String, dict: Map (insertion
 * order), list: List, bytes: byte[], date: LocalDate, naive datetime: LocalDateTime, aware datetime
 * (always UTC here): UtcDateTime.
 */
final class Py {
    private Py() {}

    /** An aware datetime in UTC ({@code tzinfo=datetime.timezone.utc}). */
    static final class UtcDateTime {
        final LocalDateTime utc;

        UtcDateTime(LocalDateTime utc) {
            this.utc = utc;
        }
    }

    // --- type names and repr ----------------------------------------------------------------------

    static String typeName(Object v) {
        if (v == null) return "NoneType";
        if (v instanceof Boolean) return "bool";
        if (v instanceof Long || v instanceof BigInteger) return "int";
        if (v instanceof Double) return "float";
        if (v instanceof PyDecimal) return "Decimal";
        if (v instanceof String) return "str";
        if (v instanceof Map) return "dict";
        if (v instanceof List) return "list";
        if (v instanceof byte[]) return "bytes";
        if (v instanceof LocalDate) return "date";
        if (v instanceof LocalDateTime || v instanceof UtcDateTime) return "datetime";
        return v.getClass().getSimpleName();
    }

    /** debezium._show: "null", or repr cut to 80 characters plus the type name. */
    static String show(Object value) {
        if (value == null) return "null";
        final int limit = 80;
        StringBuilder sb = new StringBuilder();
        try {
            repr(value, sb, limit * 2 + 8);
        } catch (Truncated ignored) {
            // long enough to be cut
        }
        String text = sb.toString();
        int n = text.codePointCount(0, text.length());
        if (n > limit) {
            text = text.substring(0, text.offsetByCodePoints(0, limit - 3)) + "...";
        }
        return text + " (" + typeName(value) + ")";
    }

    static String repr(Object value) {
        StringBuilder sb = new StringBuilder();
        try {
            repr(value, sb, Integer.MAX_VALUE);
        } catch (Truncated e) {
            throw new IllegalStateException(e);
        }
        return sb.toString();
    }

    /** Thrown when a repr grew past what the caller needs (only its first characters count). */
    private static final class Truncated extends Exception {
        private static final long serialVersionUID = 1L;

        Truncated() {
            super(null, null, false, false);
        }
    }

    private static void repr(Object v, StringBuilder sb, int cap) throws Truncated {
        if (sb.length() > cap) throw new Truncated();
        if (v == null) {
            sb.append("None");
        } else if (v instanceof Boolean) {
            sb.append((Boolean) v ? "True" : "False");
        } else if (v instanceof Long || v instanceof BigInteger) {
            sb.append(v.toString());
        } else if (v instanceof Double) {
            sb.append(floatRepr((Double) v));
        } else if (v instanceof PyDecimal) {
            sb.append(((PyDecimal) v).repr());
        } else if (v instanceof String) {
            strRepr((String) v, sb, cap);
        } else if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) sb.append(", ");
                first = false;
                repr(e.getKey(), sb, cap);
                sb.append(": ");
                repr(e.getValue(), sb, cap);
                if (sb.length() > cap) throw new Truncated();
            }
            sb.append('}');
        } else if (v instanceof List) {
            sb.append('[');
            boolean first = true;
            for (Object item : (List<?>) v) {
                if (!first) sb.append(", ");
                first = false;
                repr(item, sb, cap);
                if (sb.length() > cap) throw new Truncated();
            }
            sb.append(']');
        } else if (v instanceof byte[]) {
            bytesRepr((byte[]) v, sb);
        } else if (v instanceof LocalDate) {
            LocalDate d = (LocalDate) v;
            sb.append("datetime.date(").append(d.getYear()).append(", ").append(d.getMonthValue()).append(", ")
                    .append(d.getDayOfMonth()).append(')');
        } else if (v instanceof LocalDateTime) {
            datetimeRepr((LocalDateTime) v, sb);
            sb.append(')');
        } else if (v instanceof UtcDateTime) {
            datetimeRepr(((UtcDateTime) v).utc, sb);
            sb.append(", tzinfo=datetime.timezone.utc)");
        } else {
            throw new IllegalArgumentException("no repr for " + v.getClass().getName());
        }
        if (sb.length() > cap) throw new Truncated();
    }

    private static void datetimeRepr(LocalDateTime t, StringBuilder sb) {
        sb.append("datetime.datetime(").append(t.getYear()).append(", ").append(t.getMonthValue()).append(", ")
                .append(t.getDayOfMonth()).append(", ").append(t.getHour()).append(", ").append(t.getMinute());
        int micros = t.getNano() / 1000;
        if (micros != 0) {
            sb.append(", ").append(t.getSecond()).append(", ").append(micros);
        } else if (t.getSecond() != 0) {
            sb.append(", ").append(t.getSecond());
        }
    }

    /** repr(str): CPython's unicode_repr (quote choice, escapes, isprintable). */
    static String strRepr(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2);
        try {
            strRepr(s, sb, Integer.MAX_VALUE);
        } catch (Truncated e) {
            throw new IllegalStateException(e);
        }
        return sb.toString();
    }

    private static void strRepr(String s, StringBuilder sb, int cap) throws Truncated {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        sb.append(quote);
        int n = s.length();
        for (int i = 0; i < n; ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                sb.append('\\').append((char) cp);
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp < ' ' || cp == 0x7f) {
                hexEscape(sb, "\\x", cp, 2);
            } else if (cp < 0x7f) {
                sb.append((char) cp);
            } else if (isPrintable(cp)) {
                sb.appendCodePoint(cp);
            } else if (cp <= 0xff) {
                hexEscape(sb, "\\x", cp, 2);
            } else if (cp <= 0xffff) {
                hexEscape(sb, "\\u", cp, 4);
            } else {
                hexEscape(sb, "\\U", cp, 8);
            }
            if (sb.length() > cap) throw new Truncated();
        }
        sb.append(quote);
    }

    private static void hexEscape(StringBuilder sb, String prefix, int cp, int width) {
        String hex = Integer.toHexString(cp);
        sb.append(prefix);
        for (int k = hex.length(); k < width; k++) sb.append('0');
        sb.append(hex);
    }

    /**
     * str.isprintable for one character: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (the space
     * excepted). Java 17 knows Unicode 13; CPython 3.11 Unicode 14 (characters new in 14 differ).
     */
    static boolean isPrintable(int cp) {
        if (cp == ' ') return true;
        switch (Character.getType(cp)) {
            case Character.CONTROL:
            case Character.FORMAT:
            case Character.SURROGATE:
            case Character.PRIVATE_USE:
            case Character.UNASSIGNED:
            case Character.LINE_SEPARATOR:
            case Character.PARAGRAPH_SEPARATOR:
            case Character.SPACE_SEPARATOR:
                return false;
            default:
                return true;
        }
    }

    /** repr(bytes). */
    static void bytesRepr(byte[] b, StringBuilder sb) {
        boolean single = false;
        boolean dbl = false;
        for (byte x : b) {
            if (x == '\'') single = true;
            else if (x == '"') dbl = true;
        }
        char quote = single && !dbl ? '"' : '\'';
        sb.append('b').append(quote);
        for (byte x : b) {
            int c = x & 0xff;
            if (c == quote || c == '\\') sb.append('\\').append((char) c);
            else if (c == '\t') sb.append("\\t");
            else if (c == '\n') sb.append("\\n");
            else if (c == '\r') sb.append("\\r");
            else if (c < ' ' || c >= 0x7f) hexEscape(sb, "\\x", c, 2);
            else sb.append((char) c);
        }
        sb.append(quote);
    }

    /** A list of strings as Python prints it: ['a', 'b']. */
    static String listRepr(Collection<String> items) {
        return repr(new ArrayList<Object>(items));
    }

    // --- floats -------------------------------------------------------------------------------------

    /** repr(float): the shortest digits that read back as the same double, in Python's layout. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return (Double.doubleToRawLongBits(d) < 0) ? "-0.0" : "0.0";
        double a = Math.abs(d);
        BigDecimal exact = new BigDecimal(a);
        // Lengths that read back are upward closed (append a zero); Double.toString's digits read back, so
        // start at its length and shorten while possible (it is usually already the shortest).
        int n = significantDigits(Double.toString(a));
        BigDecimal best = closestReadingBack(exact, a, n);
        if (best == null) best = closestReadingBack(exact, a, 17);  // cannot happen: n digits read back
        for (int p = n - 1; p >= 1; p--) {
            BigDecimal shorter = closestReadingBack(exact, a, p);
            if (shorter == null) break;
            best = shorter;
        }
        best = best.stripTrailingZeros();
        String digits = best.unscaledValue().toString();
        int decpt = digits.length() - best.scale();
        StringBuilder sb = new StringBuilder(24);
        if (d < 0) sb.append('-');
        if (decpt <= -4 || decpt > 16) {
            int exp = decpt - 1;
            sb.append(digits.charAt(0));
            if (digits.length() > 1) sb.append('.').append(digits, 1, digits.length());
            sb.append('e').append(exp < 0 ? '-' : '+');
            int ae = Math.abs(exp);
            if (ae < 10) sb.append('0');
            sb.append(ae);
        } else if (decpt <= 0) {
            sb.append("0.");
            for (int k = 0; k < -decpt; k++) sb.append('0');
            sb.append(digits);
        } else if (decpt >= digits.length()) {
            sb.append(digits);
            for (int k = digits.length(); k < decpt; k++) sb.append('0');
            sb.append(".0");
        } else {
            sb.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
        }
        return sb.toString();
    }

    /** Significant digits of Double.toString's mantissa ("1.0E-5" -> 1, "123.45" -> 5). */
    private static int significantDigits(String javaRepr) {
        int e = javaRepr.indexOf('E');
        String mantissa = (e < 0 ? javaRepr : javaRepr.substring(0, e)).replace(".", "");
        int start = 0;
        while (start < mantissa.length() - 1 && mantissa.charAt(start) == '0') start++;
        int end = mantissa.length();
        while (end > start + 1 && mantissa.charAt(end - 1) == '0') end--;
        return Math.max(1, Math.min(17, end - start));
    }

    /**
     * Among the p-digit decimals that read back as a (the double whose exact value is exact), the one
     * closest to it (what Python's repr picks among the shortest), or null if there is none.
     */
    private static BigDecimal closestReadingBack(BigDecimal exact, double a, int p) {
        BigDecimal c0 = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
        if (c0.doubleValue() == a) return c0;
        BigDecimal best = null;
        BigDecimal ulp = c0.ulp();
        for (BigDecimal c : new BigDecimal[] {c0.subtract(ulp), c0.add(ulp)}) {
            if (c.signum() > 0 && c.doubleValue() == a
                    && (best == null || c.subtract(exact).abs().compareTo(best.subtract(exact).abs()) < 0)) {
                best = c;
            }
        }
        return best;
    }

    // --- json.dumps of a string -----------------------------------------------------------------------

    /** json.dumps(s) (ensure_ascii=True) appended to sb. */
    static void jsonAscii(String s, StringBuilder sb) {
        jsonString(s, sb, true);
    }

    /** json.dumps(s, ensure_ascii=False) appended to sb. */
    static void jsonUnicode(String s, StringBuilder sb) {
        jsonString(s, sb, false);
    }

    private static void jsonString(String s, StringBuilder sb, boolean asciiOnly) {
        sb.append('"');
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                case '\b': sb.append("\\b"); break;
                case '\f': sb.append("\\f"); break;
                default:
                    if (c < ' ' || (asciiOnly && c > '~')) hexEscape(sb, "\\u", c, 4);
                    else sb.append(c);
            }
        }
        sb.append('"');
    }

    // --- datetimes ----------------------------------------------------------------------------------

    private static void pad(StringBuilder sb, int value, int width) {
        String s = Integer.toString(value);
        for (int k = s.length(); k < width; k++) sb.append('0');
        sb.append(s);
    }

    /** batch.canonical_string of a naive datetime: "YYYY-MM-DD HH:MM:SS.ffffff", the year zero-padded. */
    static String canonicalDateTime(LocalDateTime t) {
        return dateTime(t, 4, ' ');
    }

    /** isoformat(timespec="microseconds"). */
    static String isoformat(LocalDateTime t) {
        return dateTime(t, 4, 'T');
    }

    static String isoformat(LocalDate d) {
        return date(new StringBuilder(10), d, 4).toString();
    }

    private static StringBuilder date(StringBuilder sb, LocalDate d, int yearWidth) {
        pad(sb, d.getYear(), yearWidth);
        sb.append('-');
        pad(sb, d.getMonthValue(), 2);
        sb.append('-');
        pad(sb, d.getDayOfMonth(), 2);
        return sb;
    }

    private static String dateTime(LocalDateTime t, int yearWidth, char separator) {
        StringBuilder sb = date(new StringBuilder(26), t.toLocalDate(), yearWidth).append(separator);
        pad(sb, t.getHour(), 2);
        sb.append(':');
        pad(sb, t.getMinute(), 2);
        sb.append(':');
        pad(sb, t.getSecond(), 2);
        sb.append('.');
        pad(sb, t.getNano() / 1000, 6);
        return sb.toString();
    }

    // --- canonical strings and image JSON (cdc_pipeline.batch / debezium.image_to_json) ----------------

    /** batch.canonical_string of a decoded value. */
    static String canonical(Object v) {
        if (v == null) return null;
        if (v instanceof Boolean) return (Boolean) v ? "true" : "false";
        if (v instanceof PyDecimal) return ((PyDecimal) v).formatF();
        if (v instanceof UtcDateTime) return canonicalDateTime(((UtcDateTime) v).utc) + "+00:00";
        if (v instanceof LocalDateTime) return canonicalDateTime((LocalDateTime) v);
        if (v instanceof LocalDate) return isoformat((LocalDate) v);
        if (v instanceof byte[]) return Base64.getEncoder().encodeToString((byte[]) v);
        if (v instanceof Double) return floatRepr((Double) v);
        return v.toString();  // str, int
    }

    /** debezium._json_value appended to sb. */
    static void jsonValue(Object v, StringBuilder sb) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Boolean) {
            sb.append((Boolean) v ? "true" : "false");
        } else if (v instanceof Long || v instanceof BigInteger) {
            sb.append(v.toString());
        } else if (v instanceof String) {
            jsonUnicode((String) v, sb);
        } else if (v instanceof PyDecimal) {
            sb.append(((PyDecimal) v).str());
        } else if (v instanceof Double) {
            double d = (Double) v;
            if (Double.isNaN(d) || Double.isInfinite(d)) sb.append('"').append(floatRepr(d)).append('"');
            else sb.append(floatRepr(d));
        } else if (v instanceof UtcDateTime) {
            sb.append('"').append(isoformat(((UtcDateTime) v).utc)).append("Z\"");
        } else if (v instanceof LocalDateTime) {
            sb.append('"').append(isoformat((LocalDateTime) v)).append('"');
        } else if (v instanceof LocalDate) {
            sb.append('"').append(isoformat((LocalDate) v)).append('"');
        } else if (v instanceof byte[]) {
            sb.append('"').append(Base64.getEncoder().encodeToString((byte[]) v)).append('"');
        } else {
            throw new IllegalArgumentException("cannot write " + typeName(v) + " as JSON");
        }
    }

    /** debezium.image_to_json. */
    static String imageToJson(Map<String, Object> image) {
        StringBuilder sb = new StringBuilder(256);
        sb.append('{');
        boolean first = true;
        for (Map.Entry<String, Object> e : image.entrySet()) {
            if (!first) sb.append(',');
            first = false;
            jsonUnicode(e.getKey(), sb);
            sb.append(':');
            jsonValue(e.getValue(), sb);
        }
        return sb.append('}').toString();
    }

    // --- equality and truth -------------------------------------------------------------------------

    private static boolean isNumber(Object v) {
        return v instanceof Boolean || v instanceof Long || v instanceof BigInteger || v instanceof Double
                || v instanceof PyDecimal;
    }

    /** The exact value of a finite number (bool as 0/1), or null for nan/inf. */
    private static BigDecimal exactNumber(Object v) {
        if (v instanceof Boolean) return (Boolean) v ? BigDecimal.ONE : BigDecimal.ZERO;
        if (v instanceof Long) return BigDecimal.valueOf((Long) v);
        if (v instanceof BigInteger) return new BigDecimal((BigInteger) v);
        if (v instanceof PyDecimal) return ((PyDecimal) v).value;  // null (never equal) beyond BigDecimal
        double d = (Double) v;
        return Double.isNaN(d) || Double.isInfinite(d) ? null : new BigDecimal(d);
    }

    /** Python's a == b for the values the codecs produce. */
    static boolean pyEquals(Object a, Object b) {
        if (a == null || b == null) return a == b;
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double && b instanceof Double) return ((Double) a).doubleValue() == (Double) b;
            BigDecimal x = exactNumber(a);
            BigDecimal y = exactNumber(b);
            return x != null && y != null && x.compareTo(y) == 0;
        }
        if (a instanceof String && b instanceof String) return a.equals(b);
        if (a instanceof byte[] && b instanceof byte[]) return java.util.Arrays.equals((byte[]) a, (byte[]) b);
        if (a instanceof LocalDate && b instanceof LocalDate) return a.equals(b);
        if (a instanceof LocalDateTime && b instanceof LocalDateTime) return a.equals(b);
        if (a instanceof UtcDateTime && b instanceof UtcDateTime) return ((UtcDateTime) a).utc.equals(((UtcDateTime) b).utc);
        if (a instanceof Map && b instanceof Map || a instanceof List && b instanceof List) {
            throw new IllegalArgumentException("containers are never decoded values");
        }
        return false;
    }

    /** bool(v) for a JSON value. */
    static boolean truthy(Object v) {
        if (v == null) return false;
        if (v instanceof Boolean) return (Boolean) v;
        if (v instanceof Long) return (Long) v != 0;
        if (v instanceof BigInteger) return ((BigInteger) v).signum() != 0;
        if (v instanceof Double) return (Double) v != 0.0;
        if (v instanceof PyDecimal) return !((PyDecimal) v).isZero();
        if (v instanceof String) return !((String) v).isEmpty();
        if (v instanceof Map) return !((Map<?, ?>) v).isEmpty();
        if (v instanceof List) return !((List<?>) v).isEmpty();
        return true;
    }

    /** Python's order of str: by code point (Java's compareTo orders UTF-16 units). */
    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) return Integer.compare(x, y);
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    static List<String> sorted(Collection<String> items) {
        List<String> out = new ArrayList<>(items);
        out.sort(Py::compareCodePoints);
        return out;
    }

    // --- int() ----------------------------------------------------------------------------------------

    static final int MAX_STR_DIGITS = 4300;

    /** The ValueError of int->str conversion past sys.get_int_max_str_digits() (4300). */
    static PyException tooManyDigitsToStr() {
        return new PyException("ValueError", "Exceeds the limit (4300 digits) for integer string conversion; "
                + "use sys.set_int_max_str_digits() to increase the limit");
    }

    /** Decimal digits of |n| (str(abs(n))), raising like CPython past 4300 digits. */
    static int decimalDigits(BigInteger n) throws PyException {
        if (n.bitLength() < 63) {
            long v = Math.abs(n.longValue());
            int digits = 1;
            while (v >= 10) {
                v /= 10;
                digits++;
            }
            return digits;
        }
        n = n.abs();
        if (n.bitLength() > 14_300) throw tooManyDigitsToStr();  // > 4304 digits
        int digits = n.toString().length();
        if (digits > MAX_STR_DIGITS) throw tooManyDigitsToStr();
        return digits;
    }

    private static boolean isPySpace(int cp) {
        switch (cp) {
            case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x1c: case 0x1d: case 0x1e:
            case 0x1f: case 0x20: case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
            case 0x202f: case 0x205f: case 0x3000:
                return true;
            default:
                return cp >= 0x2000 && cp <= 0x200a;
        }
    }

    /**
     * int(v) for a JSON value (a schema parameter). Throws PyException TypeError/ValueError (the caller
     * catches them, as the Python code does) or OverflowError (float infinity; the Python code does not).
     */
    static BigInteger toInt(Object v) throws PyException {
        if (v instanceof Boolean) return (Boolean) v ? BigInteger.ONE : BigInteger.ZERO;
        if (v instanceof Long) return BigInteger.valueOf((Long) v);
        if (v instanceof BigInteger) return (BigInteger) v;
        if (v instanceof PyDecimal) {
            BigDecimal d = ((PyDecimal) v).value;
            return d.precision() - d.scale() <= 0 ? BigInteger.ZERO : d.toBigInteger();  // |d| < 1: 0
        }
        if (v instanceof Double) {
            double d = (Double) v;
            if (Double.isNaN(d)) throw new PyException("ValueError", "cannot convert float NaN to integer");
            if (Double.isInfinite(d)) throw new PyException("OverflowError", "cannot convert float infinity to integer");
            return new BigDecimal(d).toBigInteger();
        }
        if (v instanceof String) return parseIntLiteral((String) v);
        throw new PyException("TypeError", "int() argument must be a string, a bytes-like object or a real number, not '"
                + typeName(v) + "'");
    }

    /** int(str): Unicode digits and spaces allowed, one '_' between digits, surrounding whitespace. */
    private static BigInteger parseIntLiteral(String s) throws PyException {
        StringBuilder ascii = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (isPySpace(cp)) ascii.append(' ');
            else if (cp > 127 && Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER) ascii.append((char) ('0' + Character.digit(cp, 10)));
            else if (cp > 127) throw invalidLiteral(s);
            else ascii.append((char) cp);
        }
        String t = ascii.toString();
        int i = 0;
        int n = t.length();
        while (i < n && isAsciiSpace(t.charAt(i))) i++;
        boolean negative = false;
        if (i < n && (t.charAt(i) == '+' || t.charAt(i) == '-')) {
            negative = t.charAt(i) == '-';
            i++;
        }
        StringBuilder digits = new StringBuilder();
        boolean lastUnderscore = true;  // no leading '_'
        while (i < n) {
            char c = t.charAt(i);
            if (c >= '0' && c <= '9') {
                digits.append(c);
                lastUnderscore = false;
            } else if (c == '_' && !lastUnderscore) {
                lastUnderscore = true;
            } else {
                break;
            }
            i++;
        }
        if (digits.length() == 0 || lastUnderscore) throw invalidLiteral(s);
        while (i < n && isAsciiSpace(t.charAt(i))) i++;
        if (i != n) throw invalidLiteral(s);
        if (digits.length() > MAX_STR_DIGITS) {
            throw new PyException("ValueError", "Exceeds the limit (4300 digits) for integer string conversion: value has "
                    + digits.length() + " digits; use sys.set_int_max_str_digits() to increase the limit");
        }
        BigInteger value = new BigInteger(digits.toString());
        return negative ? value.negate() : value;
    }

    private static boolean isAsciiSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == 0x0c;
    }

    private static PyException invalidLiteral(String s) {
        return new PyException("ValueError", "invalid literal for int() with base 10: " + strRepr(s));
    }

    /** A BigInteger as Long when it fits (the value model keeps small ints as Long). */
    static Object normalize(BigInteger n) {
        return n.bitLength() < 64 ? (Object) n.longValue() : n;
    }
}

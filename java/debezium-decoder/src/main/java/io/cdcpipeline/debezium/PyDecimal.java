package io.cdcpipeline.debezium;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * A Python {@code decimal.Decimal} from a JSON number or a decimal codec: a BigDecimal (same coefficient
 * and exponent) plus the sign of zero, which BigDecimal drops ({@code Decimal('-0.00')}).
 *
 * <p>Python's Decimal takes exponents up to about 10**18, BigDecimal only int-sized ones; a JSON number
 * beyond BigDecimal's range is kept as (coefficient, long exponent) with {@code value == null} and only
 * supports what the decoder does with such a number (print it, test it for zero, its sign and size).
 */
final class PyDecimal {
    /** Null when the exponent does not fit BigDecimal (see coefficient/exponent). */
    final BigDecimal value;
    final boolean negativeZero;
    /** The signed coefficient and the exponent (value = coefficient * 10**exponent); always set. */
    final BigInteger coefficient;
    final long exponent;

    PyDecimal(BigDecimal value, boolean negativeZero) {
        this.value = value;
        this.negativeZero = negativeZero && value.signum() == 0;
        this.coefficient = value.unscaledValue();
        this.exponent = -(long) value.scale();
    }

    private PyDecimal(BigInteger coefficient, long exponent, boolean negativeZero) {
        this.value = null;
        this.coefficient = coefficient;
        this.exponent = exponent;
        this.negativeZero = negativeZero && coefficient.signum() == 0;
    }

    // libmpdec's limits for an exact conversion (Decimal(text) under MAX_CONTEXT).
    private static final BigInteger MAX_EMAX = BigInteger.valueOf(999_999_999_999_999_999L);
    private static final BigInteger MIN_ETINY = BigInteger.valueOf(-1_999_999_999_999_999_997L);

    /**
     * {@code decimal.Decimal(text)} for the text of a JSON number with a fraction or an exponent. Raises
     * InvalidOperation as CPython does past libmpdec's exponent limits.
     */
    static PyDecimal parse(String text) throws PyException {
        boolean negative = text.charAt(0) == '-';
        try {
            BigDecimal value = new BigDecimal(text);
            return new PyDecimal(value, value.signum() == 0 && negative);
        } catch (NumberFormatException e) {
            // an exponent beyond int: BigDecimal refuses, Python may not
        }
        int e = Math.max(text.indexOf('e'), text.indexOf('E'));
        String mantissa = text.substring(negative ? 1 : 0, e);
        int dot = mantissa.indexOf('.');
        String digits = dot < 0 ? mantissa : mantissa.substring(0, dot) + mantissa.substring(dot + 1);
        int fraction = dot < 0 ? 0 : mantissa.length() - dot - 1;
        String expText = text.substring(e + 1);
        BigInteger exp = new BigInteger(expText.startsWith("+") ? expText.substring(1) : expText)
                .subtract(BigInteger.valueOf(fraction));
        BigInteger coefficient = new BigInteger(digits);
        int ndigits = coefficient.signum() == 0 ? 1 : coefficient.toString().length();
        BigInteger adjusted = exp.add(BigInteger.valueOf(ndigits - 1));
        if (adjusted.compareTo(MAX_EMAX) > 0 || exp.compareTo(MIN_ETINY) < 0) {
            throw new PyException("InvalidOperation", "[<class 'decimal.InvalidOperation'>]");
        }
        return new PyDecimal(negative ? coefficient.negate() : coefficient, exp.longValueExact(), negative);
    }

    boolean isZero() {
        return coefficient.signum() == 0;
    }

    int signum() {
        return coefficient.signum();
    }

    /** str(d): the to-scientific-string of the decimal spec (BigDecimal.toString where it can). */
    String str() {
        if (value != null) return negativeZero ? "-" + value.toString() : value.toString();
        String digits = coefficient.abs().toString();
        long leftdigits = exponent + digits.length();
        long dotplace = exponent <= 0 && leftdigits > -6 ? leftdigits : 1;
        StringBuilder sb = new StringBuilder();
        if (coefficient.signum() < 0 || negativeZero) sb.append('-');
        if (dotplace <= 0) {
            sb.append("0.");
            for (long k = 0; k < -dotplace; k++) sb.append('0');
            sb.append(digits);
        } else if (dotplace >= digits.length()) {
            sb.append(digits);
            for (long k = digits.length(); k < dotplace; k++) sb.append('0');
        } else {
            sb.append(digits, 0, (int) dotplace).append('.').append(digits, (int) dotplace, digits.length());
        }
        long shown = leftdigits - dotplace;
        if (shown != 0) sb.append('E').append(shown > 0 ? "+" : "").append(shown);
        return sb.toString();
    }

    /** {@code format(d, "f")} (only for codec results, whose exponent is small). */
    String formatF() {
        String plain = value.signum() == 0 && value.scale() <= 0 ? "0" : value.toPlainString();
        return negativeZero ? "-" + plain : plain;
    }

    /** float(d). */
    double toDouble() {
        if (negativeZero) return -0.0;
        if (value != null) return Double.parseDouble(value.toString());
        if (isZero()) return 0.0;
        double magnitude = exponent > 0 ? Double.POSITIVE_INFINITY : 0.0;
        return coefficient.signum() < 0 ? -magnitude : magnitude;
    }

    String repr() {
        return "Decimal('" + str() + "')";
    }
}

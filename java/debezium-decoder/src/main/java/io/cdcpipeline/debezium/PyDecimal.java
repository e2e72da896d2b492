package io.cdcpipeline.debezium;

import java.math.BigDecimal;

/**
 * A Python {@code decimal.Decimal} from a JSON number or a decimal codec: a BigDecimal (same coefficient
 * and exponent) plus the sign of zero, which BigDecimal drops ({@code Decimal('-0.00')}).
 */
final class PyDecimal {
    final BigDecimal value;
    final boolean negativeZero;

    PyDecimal(BigDecimal value, boolean negativeZero) {
        this.value = value;
        this.negativeZero = negativeZero && value.signum() == 0;
    }

    /** {@code decimal.Decimal(text)} for the text of a JSON number with a fraction or an exponent. */
    static PyDecimal parse(String text) {
        BigDecimal value = new BigDecimal(text);
        return new PyDecimal(value, value.signum() == 0 && text.charAt(0) == '-');
    }

    boolean isZero() {
        return value.signum() == 0;
    }

    /** {@code str(d)}: the to-scientific-string of the decimal spec, as BigDecimal.toString. */
    String str() {
        return negativeZero ? "-" + value.toString() : value.toString();
    }

    /** {@code format(d, "f")}. */
    String formatF() {
        String plain = value.signum() == 0 && value.scale() <= 0 ? "0" : value.toPlainString();
        return negativeZero ? "-" + plain : plain;
    }

    String repr() {
        return "Decimal('" + str() + "')";
    }
}

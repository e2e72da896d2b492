package io.cdcpipeline.debezium;

/** errors.DecodeError: a record that is not a valid change event, with its kind and reason. */
final class DecodeException extends Exception {
    private static final long serialVersionUID = 1L;
    final String kind;
    final String reason;

    DecodeException(String kind, String reason) {
        super(kind + ": " + reason, null, false, false);
        this.kind = kind;
        this.reason = reason;
    }
}

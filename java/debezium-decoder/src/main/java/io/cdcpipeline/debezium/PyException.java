package io.cdcpipeline.debezium;

/**
 * A Python exception the reference decoder (cdc_pipeline/debezium.py) would raise, by its Python class
 * name: caught internally where the Python code catches it, else reported as {@code Type: message}.
 */
final class PyException extends Exception {
    private static final long serialVersionUID = 1L;
    final String type;

    PyException(String type, String message) {
        super(message, null, false, false);
        this.type = type;
    }

    /** What {@code f"{type(err).__name__}: {err}"} prints. */
    String described() {
        return type + ": " + getMessage();
    }
}

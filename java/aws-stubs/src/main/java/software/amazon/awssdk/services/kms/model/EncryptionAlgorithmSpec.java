package software.amazon.awssdk.services.kms.model;

/**
 * Stand-in for the AWS KMS model enum. Iceberg's AwsProperties reads its default in a static
 * initialiser even when KMS is never used; no PyPI wheel ships the KMS model jar, so S3FileIO
 * cannot load without this. Only the constant Iceberg touches is defined.
 */
public enum EncryptionAlgorithmSpec {
    SYMMETRIC_DEFAULT("SYMMETRIC_DEFAULT");

    private final String value;

    EncryptionAlgorithmSpec(String value) {
        this.value = value;
    }

    @Override
    public String toString() {
        return value;
    }

    public static EncryptionAlgorithmSpec fromValue(String value) {
        for (EncryptionAlgorithmSpec spec : values()) {
            if (spec.value.equals(value)) {
                return spec;
            }
        }
        throw new IllegalArgumentException(
            "KMS is not available in this build; unsupported encryption algorithm spec: " + value);
    }
}

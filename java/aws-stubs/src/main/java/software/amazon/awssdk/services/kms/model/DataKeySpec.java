package software.amazon.awssdk.services.kms.model;

/** Stand-in for the AWS KMS model enum; see EncryptionAlgorithmSpec for why it exists. */
public enum DataKeySpec {
    AES_256("AES_256");

    private final String value;

    DataKeySpec(String value) {
        this.value = value;
    }

    @Override
    public String toString() {
        return value;
    }

    public static DataKeySpec fromValue(String value) {
        for (DataKeySpec spec : values()) {
            if (spec.value.equals(value)) {
                return spec;
            }
        }
        throw new IllegalArgumentException(
            "KMS is not available in this build; unsupported data key spec: " + value);
    }
}

package software.amazon.awssdk.services.sts.model;

/**
 * Stand-in for the AWS STS session tag. Iceberg's AwsProperties builds these from
 * client.assume-role.tags.* properties; no PyPI wheel ships the STS model jar. Assume-role itself
 * still needs the real STS SDK on the classpath.
 */
public final class Tag {
    private final String key;
    private final String value;

    private Tag(String key, String value) {
        this.key = key;
        this.value = value;
    }

    public String key() {
        return key;
    }

    public String value() {
        return value;
    }

    public static Builder builder() {
        return new BuilderImpl();
    }

    /** build() is erased to Object in the real SDK (a generic builder); call sites expect that. */
    public interface Builder {
        Builder key(String key);

        Builder value(String value);

        Object build();
    }

    private static final class BuilderImpl implements Builder {
        private String key;
        private String value;

        @Override
        public Builder key(String key) {
            this.key = key;
            return this;
        }

        @Override
        public Builder value(String value) {
            this.value = value;
            return this;
        }

        @Override
        public Object build() {
            return new Tag(key, value);
        }
    }
}

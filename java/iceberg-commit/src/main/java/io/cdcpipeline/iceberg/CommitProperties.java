package io.cdcpipeline.iceberg;

import java.util.Map;
import org.apache.iceberg.spark.CommitMetadata;
import org.apache.spark.sql.SparkSession;

/**
 * Runs one SQL statement (a MERGE INTO) with extra properties in the Iceberg snapshot summary.
 *
 * <p>SQL row-level commands take no write options, so the only way to tag their snapshot (with the
 * streaming batch id, for replay detection) is Iceberg's thread-local {@link CommitMetadata}. The
 * statement must run on the same JVM thread that set it, which a Python callback cannot promise;
 * this one static call does.
 */
public final class CommitProperties {
    private CommitProperties() {}

    public static void sqlWithSnapshotProperties(SparkSession spark, String sql, Map<String, String> properties) {
        CommitMetadata.withCommitProperties(properties, () -> {
            spark.sql(sql);
            return null;
        }, RuntimeException.class);
    }
}

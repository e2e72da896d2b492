package io.cdcpipeline.spark.kafka;

import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

import java.util.Map;

/**
 * Entry point of the {@code cdc-kafka} streaming source: a Spark 3.5 DataSource V2 replacement for
 * Spark's {@code kafka} source (spark-sql-kafka-0-10), with the same options, schema and checkpoints.
 */
public final class CdcKafkaSourceProvider implements TableProvider, DataSourceRegister {
  public static final String SHORT_NAME = "cdc-kafka";

  @Override
  public String shortName() {
    return SHORT_NAME;
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    return RecordToRow.kafkaSchema(new SourceOptions(options).includeHeaders());
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    boolean includeHeaders = new SourceOptions(new CaseInsensitiveStringMap(properties)).includeHeaders();
    return new CdcKafkaTable(includeHeaders);
  }
}

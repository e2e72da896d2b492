package io.cdcpipeline.spark.kafka;

import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

import java.util.EnumSet;
import java.util.Set;

final class CdcKafkaTable implements SupportsRead {
  private final boolean includeHeaders;

  CdcKafkaTable(boolean includeHeaders) {
    this.includeHeaders = includeHeaders;
  }

  @Override
  public String name() {
    return "KafkaTable";
  }

  @Override
  public StructType schema() {
    return RecordToRow.kafkaSchema(includeHeaders);
  }

  @Override
  public Set<TableCapability> capabilities() {
    return EnumSet.of(TableCapability.MICRO_BATCH_READ);
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
    return () -> new CdcKafkaScan(options);
  }
}

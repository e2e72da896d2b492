package io.cdcpipeline.spark.kafka;

import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.streaming.MicroBatchStream;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

import java.util.HashMap;
import java.util.Map;

final class CdcKafkaScan implements Scan {
  private final CaseInsensitiveStringMap options;
  private final boolean includeHeaders;

  CdcKafkaScan(CaseInsensitiveStringMap options) {
    this.options = options;
    this.includeHeaders = new SourceOptions(options).includeHeaders();
  }

  @Override
  public StructType readSchema() {
    return RecordToRow.kafkaSchema(includeHeaders);
  }

  @Override
  public String description() {
    return "cdc-kafka";
  }

  @Override
  public MicroBatchStream toMicroBatchStream(String checkpointLocation) {
    SourceOptions opts = new SourceOptions(options);
    opts.validateForStreaming();
    // Each running query uses its own group id, like Spark.
    String uniqueGroupId = opts.uniqueGroupId(checkpointLocation);
    Map<String, String> specified = opts.specifiedKafkaParams();
    KafkaOffsetReader reader = new KafkaOffsetReader(opts.strategy(),
        SourceOptions.kafkaParamsForDriver(specified, uniqueGroupId), opts);
    HashMap<String, String> executorParams = SourceOptions.kafkaParamsForExecutors(specified, uniqueGroupId);
    return new KafkaMicroBatchStream(reader, executorParams, opts, checkpointLocation);
  }

  @Override
  public ColumnarSupportMode columnarSupportMode() {
    return ColumnarSupportMode.UNSUPPORTED;
  }
}

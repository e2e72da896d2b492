package io.cdcpipeline.spark.kafka;

import org.apache.kafka.common.TopicPartition;
import org.apache.spark.sql.connector.read.streaming.Offset;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/**
 * Source offset: for every topic-partition the next offset to read (i.e. last read offset + 1, the
 * semantics of {@code KafkaConsumer.position()}). JSON is identical to Spark's KafkaSourceOffset.
 */
public final class KafkaSourceOffset extends Offset {
  private final Map<TopicPartition, Long> partitionToOffsets;
  private final String json;

  KafkaSourceOffset(Map<TopicPartition, Long> partitionToOffsets) {
    this.partitionToOffsets = Collections.unmodifiableMap(new HashMap<>(partitionToOffsets));
    this.json = JsonUtils.partitionOffsets(this.partitionToOffsets);
  }

  Map<TopicPartition, Long> partitionToOffsets() {
    return partitionToOffsets;
  }

  @Override
  public String json() {
    return json;
  }

  static KafkaSourceOffset fromJson(String json) {
    return new KafkaSourceOffset(JsonUtils.partitionOffsets(json));
  }

  /** Accepts our own offsets and Spark's serialized form (e.g. read back from the offset log). */
  static KafkaSourceOffset from(Offset offset) {
    if (offset instanceof KafkaSourceOffset) return (KafkaSourceOffset) offset;
    return fromJson(offset.json());
  }
}

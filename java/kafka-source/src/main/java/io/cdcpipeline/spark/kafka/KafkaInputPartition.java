package io.cdcpipeline.spark.kafka;

import org.apache.kafka.common.TopicPartition;
import org.apache.spark.sql.connector.read.InputPartition;

import java.util.HashMap;

/** One task: read [fromOffset, untilOffset) of one topic-partition. */
final class KafkaInputPartition implements InputPartition {
  private static final long serialVersionUID = 1L;

  final String topic;
  final int partition;
  final long fromOffset;
  final long untilOffset;
  final String preferredLoc;
  final HashMap<String, String> executorKafkaParams;
  final long pollTimeoutMs;
  final boolean failOnDataLoss;
  final boolean includeHeaders;

  KafkaInputPartition(String topic, int partition, long fromOffset, long untilOffset, String preferredLoc,
      HashMap<String, String> executorKafkaParams, long pollTimeoutMs, boolean failOnDataLoss,
      boolean includeHeaders) {
    this.topic = topic;
    this.partition = partition;
    this.fromOffset = fromOffset;
    this.untilOffset = untilOffset;
    this.preferredLoc = preferredLoc;
    this.executorKafkaParams = executorKafkaParams;
    this.pollTimeoutMs = pollTimeoutMs;
    this.failOnDataLoss = failOnDataLoss;
    this.includeHeaders = includeHeaders;
  }

  TopicPartition topicPartition() {
    return new TopicPartition(topic, partition);
  }

  @Override
  public String[] preferredLocations() {
    return preferredLoc == null ? new String[0] : new String[] {preferredLoc};
  }

  @Override
  public String toString() {
    return "KafkaInputPartition(" + topic + "-" + partition + " [" + fromOffset + ", " + untilOffset + "))";
  }
}

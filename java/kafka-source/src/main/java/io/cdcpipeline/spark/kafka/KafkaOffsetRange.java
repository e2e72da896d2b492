package io.cdcpipeline.spark.kafka;

import org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** [fromOffset, untilOffset) of one partition, plus an optional preferred executor. */
final class KafkaOffsetRange {
  final TopicPartition topicPartition;
  final long fromOffset;
  final long untilOffset;
  final String preferredLoc;

  KafkaOffsetRange(TopicPartition tp, long fromOffset, long untilOffset, String preferredLoc) {
    this.topicPartition = tp;
    this.fromOffset = fromOffset;
    this.untilOffset = untilOffset;
    this.preferredLoc = preferredLoc;
  }

  long size() {
    return untilOffset - fromOffset;
  }

  /**
   * Drops empty ranges; with minPartitions larger than the number of ranges, splits large ones (Spark's
   * KafkaOffsetRangeCalculator); otherwise pins each partition to an executor for consumer reuse.
   */
  static List<KafkaOffsetRange> getRanges(List<KafkaOffsetRange> ranges, Integer minPartitions,
      String[] executors) {
    List<KafkaOffsetRange> nonEmpty = new ArrayList<>();
    for (KafkaOffsetRange r : ranges) if (r.size() > 0) nonEmpty.add(r);
    List<KafkaOffsetRange> out = new ArrayList<>();
    if (minPartitions == null || nonEmpty.size() >= minPartitions) {
      for (KafkaOffsetRange r : nonEmpty) {
        String loc = executors.length > 0
            ? executors[Math.floorMod(r.topicPartition.hashCode(), executors.length)] : null;
        out.add(new KafkaOffsetRange(r.topicPartition, r.fromOffset, r.untilOffset, loc));
      }
      return out;
    }
    long totalSize = 0;
    for (KafkaOffsetRange r : nonEmpty) totalSize += r.size();
    Set<TopicPartition> unsplit = new HashSet<>();
    long unsplitSize = 0;
    for (KafkaOffsetRange r : nonEmpty) {
      if (partCount(r.size(), totalSize, minPartitions) == 1) {
        unsplit.add(r.topicPartition);
        unsplitSize += r.size();
      }
    }
    long splitTotal = totalSize - unsplitSize;
    int splitMinPartitions = Math.max(minPartitions - unsplit.size(), 1);
    for (KafkaOffsetRange r : nonEmpty) {
      int parts = unsplit.contains(r.topicPartition) ? 1 : partCount(r.size(), splitTotal, splitMinPartitions);
      long remaining = r.size();
      long start = r.fromOffset;
      for (int part = 0; part < parts; part++) {
        long thisPart = remaining / (parts - part);
        remaining -= thisPart;
        long end = Math.min(start + thisPart, r.untilOffset);
        if (end > start) out.add(new KafkaOffsetRange(r.topicPartition, start, end, null));
        start = end;
      }
    }
    return out;
  }

  private static int partCount(long size, long totalSize, int minParts) {
    return (int) Math.max(Math.round((double) size / totalSize * minParts), 1);
  }
}

package io.cdcpipeline.spark.kafka;

import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Which topic-partitions the source reads: assign, subscribe or subscribePattern (same as Spark). */
abstract class ConsumerStrategy {
  /** The partitions that currently exist and are selected by this strategy. */
  abstract Set<TopicPartition> assignedTopicPartitions(Consumer<?, ?> consumer, Duration timeout);

  static Set<TopicPartition> partitionsOf(Map<String, List<PartitionInfo>> topics, Set<String> wanted) {
    Set<TopicPartition> out = new HashSet<>();
    for (String t : wanted) {
      List<PartitionInfo> infos = topics.get(t);
      if (infos == null) continue;
      for (PartitionInfo pi : infos) out.add(new TopicPartition(pi.topic(), pi.partition()));
    }
    return out;
  }

  static final class Assign extends ConsumerStrategy {
    private final List<TopicPartition> partitions;

    Assign(List<TopicPartition> partitions) {
      this.partitions = partitions;
    }

    @Override
    Set<TopicPartition> assignedTopicPartitions(Consumer<?, ?> consumer, Duration timeout) {
      Set<String> topics = new HashSet<>();
      for (TopicPartition tp : partitions) topics.add(tp.topic());
      Set<TopicPartition> existing = partitionsOf(consumer.listTopics(timeout), topics);
      Set<TopicPartition> out = new HashSet<>(partitions);
      out.retainAll(existing);
      return out;
    }

    @Override
    public String toString() {
      List<String> s = new ArrayList<>();
      for (TopicPartition tp : partitions) s.add(tp.toString());
      return "Assign[" + String.join(", ", s) + "]";
    }
  }

  static final class Subscribe extends ConsumerStrategy {
    private final List<String> topics;

    Subscribe(List<String> topics) {
      this.topics = topics;
    }

    @Override
    Set<TopicPartition> assignedTopicPartitions(Consumer<?, ?> consumer, Duration timeout) {
      return partitionsOf(consumer.listTopics(timeout), new HashSet<>(topics));
    }

    @Override
    public String toString() {
      return "Subscribe[" + String.join(", ", topics) + "]";
    }
  }

  static final class SubscribePattern extends ConsumerStrategy {
    private final String pattern;
    private final Pattern regex;

    SubscribePattern(String pattern) {
      this.pattern = pattern;
      this.regex = Pattern.compile(pattern);
    }

    @Override
    Set<TopicPartition> assignedTopicPartitions(Consumer<?, ?> consumer, Duration timeout) {
      Map<String, List<PartitionInfo>> all = consumer.listTopics(timeout);
      Set<String> matching = new HashSet<>();
      for (String t : all.keySet()) {
        // Like Spark (Admin listTopics, which hides internal topics) and Scala's findFirstIn.
        if (t.equals("__consumer_offsets") || t.equals("__transaction_state")) continue;
        if (regex.matcher(t).find()) matching.add(t);
      }
      return partitionsOf(all, matching);
    }

    @Override
    public String toString() {
      return "SubscribePattern[" + pattern + "]";
    }
  }
}

package io.cdcpipeline.spark.kafka;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON formats shared with Spark's own Kafka source, so checkpoints and options are interchangeable:
 * offsets {@code {"topicA":{"0":23,"1":-1},"topicB":{"0":-2}}} and
 * partitions {@code {"topicA":[0,1],"topicB":[2,4]}}.
 */
final class JsonUtils {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private JsonUtils() {}

  static final Comparator<TopicPartition> TP_ORDER =
      Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

  static Map<TopicPartition, Long> partitionOffsets(String json) {
    try {
      LinkedHashMap<String, LinkedHashMap<String, Long>> parsed =
          MAPPER.readValue(json, new TypeReference<LinkedHashMap<String, LinkedHashMap<String, Long>>>() {});
      Map<TopicPartition, Long> result = new HashMap<>();
      for (Map.Entry<String, LinkedHashMap<String, Long>> t : parsed.entrySet()) {
        for (Map.Entry<String, Long> p : t.getValue().entrySet()) {
          if (p.getValue() == null) throw new IllegalArgumentException("null offset");
          result.put(new TopicPartition(t.getKey(), Integer.parseInt(p.getKey().trim())), p.getValue());
        }
      }
      return result;
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "Expected e.g. {\"topicA\":{\"0\":23,\"1\":-1},\"topicB\":{\"0\":-2}}, got " + json, e);
    }
  }

  static List<TopicPartition> partitions(String json) {
    try {
      LinkedHashMap<String, List<Integer>> parsed =
          MAPPER.readValue(json, new TypeReference<LinkedHashMap<String, List<Integer>>>() {});
      List<TopicPartition> result = new ArrayList<>();
      for (Map.Entry<String, List<Integer>> t : parsed.entrySet()) {
        for (Integer p : t.getValue()) result.add(new TopicPartition(t.getKey(), p));
      }
      return result;
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "Expected e.g. {\"topicA\":[0,1],\"topicB\":[0,1]}, got " + json, e);
    }
  }

  /** Serialises offsets sorted by topic then partition (deterministic, so equal offsets give equal JSON). */
  static String partitionOffsets(Map<TopicPartition, Long> offsets) {
    List<TopicPartition> tps = new ArrayList<>(offsets.keySet());
    tps.sort(TP_ORDER);
    Map<String, Map<String, Long>> out = new LinkedHashMap<>();
    for (TopicPartition tp : tps) {
      out.computeIfAbsent(tp.topic(), k -> new LinkedHashMap<>())
          .put(Integer.toString(tp.partition()), offsets.get(tp));
    }
    try {
      return MAPPER.writeValueAsString(out);
    } catch (Exception e) {
      throw new IllegalStateException("Cannot serialise offsets " + offsets, e);
    }
  }

  static String describe(java.util.Collection<TopicPartition> tps) {
    List<TopicPartition> l = new ArrayList<>(tps);
    l.sort(TP_ORDER);
    return l.toString();
  }
}

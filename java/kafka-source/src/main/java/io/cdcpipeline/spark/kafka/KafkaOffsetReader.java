package io.cdcpipeline.spark.kafka;

import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.spark.util.UninterruptibleThread;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Driver-side offset lookups. It never hands records to the query: it lists partitions, reads the
 * earliest offsets with {@code beginningOffsets}, and learns the latest offsets from the high watermark
 * carried by fetch responses (see {@link #fetchLatestOffsets}), because some brokers (Tansu) answer
 * ListOffsets(latest) with the base offset of the last record batch + 1.
 */
final class KafkaOffsetReader implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaOffsetReader.class);

  /**
   * How long the probe keeps waiting for partitions whose ListOffsets answer says they are empty. Longer
   * than the probe's fetch wait (500 ms): a broker that under-reports the end may still hold records there.
   */
  private static final long EMPTY_PARTITION_GRACE_MS = 1000L;

  private final ConsumerStrategy strategy;
  private final Map<String, Object> driverKafkaParams;
  private final int maxOffsetFetchAttempts;
  private final long offsetFetchAttemptIntervalMs;
  private final long probeTimeoutMs;
  private final Duration apiTimeout;
  private KafkaConsumer<byte[], byte[]> consumer;

  KafkaOffsetReader(ConsumerStrategy strategy, Map<String, Object> driverKafkaParams, SourceOptions options) {
    this.strategy = strategy;
    this.driverKafkaParams = driverKafkaParams;
    this.maxOffsetFetchAttempts = Math.max(1, options.fetchOffsetNumRetries());
    this.offsetFetchAttemptIntervalMs = options.fetchOffsetRetryIntervalMs();
    this.probeTimeoutMs = options.latestProbeTimeoutMs();
    this.apiTimeout = Duration.ofMillis(Math.max(1000L, Math.min(options.pollTimeoutMs(), 120000L)));
  }

  Map<String, Object> driverKafkaParams() {
    return driverKafkaParams;
  }

  @Override
  public String toString() {
    return strategy.toString();
  }

  @Override
  public synchronized void close() {
    if (consumer != null) {
      try {
        consumer.close(Duration.ofSeconds(10));
      } catch (Exception e) {
        LOG.warn("Error closing the driver Kafka consumer", e);
      }
      consumer = null;
    }
  }

  private KafkaConsumer<byte[], byte[]> consumer() {
    if (consumer == null) {
      ClassLoader saved = Thread.currentThread().getContextClassLoader();
      try {
        Thread.currentThread().setContextClassLoader(KafkaOffsetReader.class.getClassLoader());
        consumer = new KafkaConsumer<>(new HashMap<>(driverKafkaParams),
            new ByteArrayDeserializer(), new ByteArrayDeserializer());
      } finally {
        Thread.currentThread().setContextClassLoader(saved);
      }
    }
    return consumer;
  }

  /** Partitions selected by the strategy that exist now. */
  Set<TopicPartition> fetchTopicPartitions() {
    return withRetries(() -> strategy.assignedTopicPartitions(consumer(), apiTimeout));
  }

  Map<TopicPartition, Long> fetchEarliestOffsets() {
    return withRetries(() -> earliest(strategy.assignedTopicPartitions(consumer(), apiTimeout)));
  }

  /** Earliest offsets of the given partitions; partitions that do not exist (any more) are left out. */
  Map<TopicPartition, Long> fetchEarliestOffsets(Collection<TopicPartition> partitions) {
    if (partitions.isEmpty()) return Collections.emptyMap();
    return withRetries(() -> {
      Set<TopicPartition> existing = strategy.assignedTopicPartitions(consumer(), apiTimeout);
      List<TopicPartition> wanted = new ArrayList<>();
      for (TopicPartition tp : partitions) if (existing.contains(tp)) wanted.add(tp);
      return earliest(wanted);
    });
  }

  /**
   * Latest offsets (exclusive end) of all partitions of the strategy. With known offsets, a latest offset
   * smaller than the known one is re-fetched a few times before being returned, as Spark does.
   */
  Map<TopicPartition, Long> fetchLatestOffsets(Map<TopicPartition, Long> knownOffsets) {
    return withRetries(() -> {
      Set<TopicPartition> tps = strategy.assignedTopicPartitions(consumer(), apiTimeout);
      Map<TopicPartition, Long> latest = probeLatest(tps);
      if (knownOffsets == null) return latest;
      for (int attempt = 1; ; attempt++) {
        List<String> incorrect = new ArrayList<>();
        for (Map.Entry<TopicPartition, Long> e : latest.entrySet()) {
          Long known = knownOffsets.get(e.getKey());
          if (known != null && known > e.getValue()) {
            incorrect.add("(" + e.getKey() + ", " + known + ", " + e.getValue() + ")");
          }
        }
        if (incorrect.isEmpty() || attempt >= maxOffsetFetchAttempts) {
          if (!incorrect.isEmpty()) {
            LOG.warn("Found incorrect offsets in some partitions (partition, previous offset, fetched offset): "
                + incorrect);
          }
          return latest;
        }
        LOG.warn("Found incorrect offsets in some partitions (partition, previous offset, fetched offset): "
            + incorrect + "; retrying to fetch latest offsets");
        sleep(offsetFetchAttemptIntervalMs);
        latest = probeLatest(strategy.assignedTopicPartitions(consumer(), apiTimeout));
      }
    });
  }

  /**
   * Resolves startingOffsets given per partition; -2 means earliest, -1 latest. Like Spark, the JSON
   * must name exactly the partitions the strategy selects.
   */
  Map<TopicPartition, Long> fetchSpecificOffsets(Map<TopicPartition, Long> partitionOffsets) {
    return withRetries(() -> {
      Set<TopicPartition> tps = strategy.assignedTopicPartitions(consumer(), apiTimeout);
      if (!tps.equals(partitionOffsets.keySet())) {
        throw new IllegalArgumentException("assertion failed: If startingOffsets contains specific offsets, you "
            + "must specify all TopicPartitions.\nUse -1 for latest, -2 for earliest, if you don't care.\n"
            + "Specified: " + JsonUtils.describe(partitionOffsets.keySet()) + " Assigned: "
            + JsonUtils.describe(tps));
      }
      List<TopicPartition> needEarliest = new ArrayList<>();
      Set<TopicPartition> needLatest = new HashSet<>();
      for (Map.Entry<TopicPartition, Long> e : partitionOffsets.entrySet()) {
        if (e.getValue() == SourceOptions.EARLIEST) needEarliest.add(e.getKey());
        else if (e.getValue() == SourceOptions.LATEST) needLatest.add(e.getKey());
      }
      Map<TopicPartition, Long> earliest = earliest(needEarliest);
      Map<TopicPartition, Long> latest = probeLatest(needLatest);
      Map<TopicPartition, Long> out = new HashMap<>();
      for (Map.Entry<TopicPartition, Long> e : partitionOffsets.entrySet()) {
        long off = e.getValue();
        if (off == SourceOptions.EARLIEST) out.put(e.getKey(), earliest.get(e.getKey()));
        else if (off == SourceOptions.LATEST) out.put(e.getKey(), latest.get(e.getKey()));
        else out.put(e.getKey(), off);
      }
      return out;
    });
  }

  private Map<TopicPartition, Long> earliest(Collection<TopicPartition> tps) {
    if (tps.isEmpty()) return new HashMap<>();
    KafkaConsumer<byte[], byte[]> c = consumer();
    // Never ask ListOffsets about assigned partitions: the client would store the answer as the high
    // watermark of the partition.
    c.assign(Collections.emptyList());
    return new HashMap<>(c.beginningOffsets(tps, apiTimeout));
  }

  /**
   * The true end of each partition, learned from a fetch response's high watermark.
   *
   * <p>Seek each partition to {@code max(earliest, listOffsetsLatest - 1)}; there is a record there (the
   * last one on Apache Kafka, somewhere in the last batch on Tansu), so the broker answers at once with
   * that batch and the partition's high watermark. The end is then {@code position + currentLag}. Only
   * partitions for which a fetch response was seen are read this way: calling {@code currentLag} before
   * would make the client issue a ListOffsets request whose (wrong, on Tansu) answer overwrites the high
   * watermark. Partitions that return nothing are empty from the seek position on: their end is the seek
   * position. Records fetched here are dropped.
   */
  private Map<TopicPartition, Long> probeLatest(Set<TopicPartition> tps) {
    Map<TopicPartition, Long> result = new HashMap<>();
    if (tps.isEmpty()) return result;
    KafkaConsumer<byte[], byte[]> c = consumer();
    c.assign(Collections.emptyList());
    Map<TopicPartition, Long> ends = c.endOffsets(tps, apiTimeout);
    Map<TopicPartition, Long> begins = c.beginningOffsets(tps, apiTimeout);
    // A fresh assignment clears any high watermark the client may remember.
    c.assign(new ArrayList<>(tps));
    Map<TopicPartition, Long> seekAt = new HashMap<>();
    Set<TopicPartition> expectData = new HashSet<>();
    for (TopicPartition tp : tps) {
      long begin = begins.getOrDefault(tp, 0L);
      long end = ends.getOrDefault(tp, begin);
      long at = end > begin ? end - 1 : begin;
      seekAt.put(tp, at);
      if (end > begin) expectData.add(tp);
      c.seek(tp, at);
    }
    long start = System.currentTimeMillis();
    long deadline = start + probeTimeoutMs;
    try {
      while (result.size() < tps.size()) {
        long now = System.currentTimeMillis();
        boolean waitingForData = false;
        for (TopicPartition tp : expectData) {
          if (!result.containsKey(tp)) {
            waitingForData = true;
            break;
          }
        }
        if (waitingForData ? now >= deadline : now >= start + EMPTY_PARTITION_GRACE_MS) break;
        ConsumerRecords<byte[], byte[]> records;
        try {
          records = c.poll(Duration.ofMillis(50));
        } catch (OffsetOutOfRangeException e) {
          // The log start moved past the seek position; look again from the new start.
          Set<TopicPartition> oor = e.partitions();
          c.assign(Collections.emptyList());
          Map<TopicPartition, Long> newBegins = c.beginningOffsets(oor, apiTimeout);
          c.assign(new ArrayList<>(tps));
          for (TopicPartition tp : tps) {
            if (result.containsKey(tp)) continue;
            long at = newBegins.containsKey(tp) ? Math.max(newBegins.get(tp), seekAt.get(tp)) : seekAt.get(tp);
            seekAt.put(tp, at);
            c.seek(tp, at);
          }
          for (TopicPartition tp : result.keySet()) c.pause(Collections.singleton(tp));
          continue;
        }
        for (TopicPartition tp : tps) {
          if (result.containsKey(tp)) continue;
          long pos = c.position(tp, apiTimeout);
          if (!records.records(tp).isEmpty() || pos != seekAt.get(tp)) {
            OptionalLong lag = c.currentLag(tp);
            long end = lag.isPresent() ? pos + lag.getAsLong() : pos;
            result.put(tp, Math.max(end, pos));
            c.pause(Collections.singleton(tp));
          }
        }
      }
    } finally {
      c.assign(Collections.emptyList());
    }
    for (TopicPartition tp : tps) {
      if (result.containsKey(tp)) continue;
      if (expectData.contains(tp)) {
        long fallback = ends.getOrDefault(tp, seekAt.get(tp));
        LOG.warn("No fetch response for {} within {} ms while probing its high watermark; using the "
            + "ListOffsets answer {} as its latest offset", tp, probeTimeoutMs, fallback);
        result.put(tp, fallback);
      } else {
        result.put(tp, seekAt.get(tp));
      }
    }
    if (LOG.isDebugEnabled()) {
      LOG.debug("Latest offsets {} (ListOffsets said {}) in {} ms", result, ends,
          System.currentTimeMillis() - start);
    }
    return result;
  }

  /**
   * Runs the body with retries (recreating the consumer between attempts), uninterruptibly when on
   * Spark's stream execution thread: interrupting KafkaConsumer.poll can hang it (KAFKA-1894).
   */
  private <T> T withRetries(Supplier<T> body) {
    Supplier<T> retrying = () -> {
      synchronized (this) {
        RuntimeException last = null;
        for (int attempt = 1; attempt <= maxOffsetFetchAttempts; attempt++) {
          try {
            return body.get();
          } catch (IllegalArgumentException | IllegalStateException e) {
            throw e;
          } catch (InterruptException | WakeupException e) {
            throw e;
          } catch (RuntimeException e) {
            last = e;
            LOG.warn("Error in attempt " + attempt + " getting Kafka offsets: ", e);
            close();
            if (attempt < maxOffsetFetchAttempts) sleep(offsetFetchAttemptIntervalMs);
          }
        }
        throw last;
      }
    };
    Thread t = Thread.currentThread();
    if (t instanceof UninterruptibleThread) {
      return ((UninterruptibleThread) t).runUninterruptibly(new scala.runtime.AbstractFunction0<T>() {
        @Override
        public T apply() {
          return retrying.get();
        }
      });
    }
    return retrying.get();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptException(e);
    }
  }
}

package io.cdcpipeline.spark.kafka;

import org.apache.kafka.common.TopicPartition;
import org.apache.spark.SparkEnv;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.streaming.CompositeReadLimit;
import org.apache.spark.sql.connector.read.streaming.MicroBatchStream;
import org.apache.spark.sql.connector.read.streaming.Offset;
import org.apache.spark.sql.connector.read.streaming.ReadAllAvailable;
import org.apache.spark.sql.connector.read.streaming.ReadLimit;
import org.apache.spark.sql.connector.read.streaming.ReadMaxRows;
import org.apache.spark.sql.connector.read.streaming.ReadMinRows;
import org.apache.spark.sql.connector.read.streaming.ReportsSourceMetrics;
import org.apache.spark.sql.connector.read.streaming.SupportsTriggerAvailableNow;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BlockManagerId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Micro-batch Kafka stream with the semantics of Spark's KafkaMicroBatchStream: offsets are the next
 * offset to read per partition; each batch reads exactly [start, end) per partition.
 */
final class KafkaMicroBatchStream implements MicroBatchStream, SupportsTriggerAvailableNow, ReportsSourceMetrics {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaMicroBatchStream.class);

  private final KafkaOffsetReader offsetReader;
  private final HashMap<String, String> executorKafkaParams;
  private final String metadataPath;
  private final SourceOptions.StartingOffsets startingOffsets;
  private final boolean failOnDataLoss;
  private final boolean includeHeaders;
  private final long pollTimeoutMs;
  private final Long maxOffsetsPerTrigger;
  private final Long minOffsetsPerTrigger;
  private final long maxTriggerDelayMs;
  private final Integer minPartitions;
  private final boolean customGroupId;

  private Map<TopicPartition, Long> initialPartitionOffsets;
  private volatile Map<TopicPartition, Long> latestPartitionOffsets;
  private Map<TopicPartition, Long> allDataForTriggerAvailableNow;
  private long lastTriggerMillis = 0L;

  KafkaMicroBatchStream(KafkaOffsetReader offsetReader, HashMap<String, String> executorKafkaParams,
      SourceOptions options, String metadataPath) {
    this.offsetReader = offsetReader;
    this.executorKafkaParams = executorKafkaParams;
    this.metadataPath = metadataPath;
    this.startingOffsets = options.startingOffsets();
    this.failOnDataLoss = options.failOnDataLoss();
    this.includeHeaders = options.includeHeaders();
    this.pollTimeoutMs = options.pollTimeoutMs();
    this.maxOffsetsPerTrigger = options.maxOffsetsPerTrigger();
    this.minOffsetsPerTrigger = options.minOffsetsPerTrigger();
    this.maxTriggerDelayMs = options.maxTriggerDelayMs();
    this.minPartitions = options.minPartitions();
    this.customGroupId = options.contains("kafka.group.id");
  }

  @Override
  public Offset initialOffset() {
    return new KafkaSourceOffset(getOrCreateInitialPartitionOffsets());
  }

  @Override
  public ReadLimit getDefaultReadLimit() {
    if (minOffsetsPerTrigger != null && maxOffsetsPerTrigger != null) {
      return ReadLimit.compositeLimit(new ReadLimit[] {
          ReadLimit.minRows(minOffsetsPerTrigger, maxTriggerDelayMs), ReadLimit.maxRows(maxOffsetsPerTrigger)});
    } else if (minOffsetsPerTrigger != null) {
      return ReadLimit.minRows(minOffsetsPerTrigger, maxTriggerDelayMs);
    } else if (maxOffsetsPerTrigger != null) {
      return ReadLimit.maxRows(maxOffsetsPerTrigger);
    }
    return ReadLimit.allAvailable();
  }

  @Override
  public Offset reportLatestOffset() {
    Map<TopicPartition, Long> latest = latestPartitionOffsets;
    return latest == null || latest.isEmpty() ? null : new KafkaSourceOffset(latest);
  }

  @Override
  public Offset latestOffset() {
    throw new UnsupportedOperationException(
        "latestOffset(Offset, ReadLimit) should be called instead of this method");
  }

  @Override
  public Offset latestOffset(Offset start, ReadLimit readLimit) {
    Map<TopicPartition, Long> startOffsets = KafkaSourceOffset.from(start).partitionToOffsets();
    Map<TopicPartition, Long> latest = allDataForTriggerAvailableNow != null
        ? allDataForTriggerAvailableNow
        : offsetReader.fetchLatestOffsets(startOffsets);
    latestPartitionOffsets = latest;

    List<ReadLimit> limits = readLimit instanceof CompositeReadLimit
        ? Arrays.asList(((CompositeReadLimit) readLimit).getReadLimits())
        : Collections.singletonList(readLimit);
    Map<TopicPartition, Long> offsets = null;
    boolean all = false;
    ReadMinRows lower = null;
    ReadMaxRows upper = null;
    for (ReadLimit l : limits) {
      if (l instanceof ReadAllAvailable) all = true;
      else if (l instanceof ReadMinRows) lower = (ReadMinRows) l;
      else if (l instanceof ReadMaxRows) upper = (ReadMaxRows) l;
    }
    if (all) {
      offsets = latest;
    } else {
      // minOffsetsPerTrigger does not hold back Trigger.AvailableNow (it must finish on its own).
      if (lower != null && allDataForTriggerAvailableNow == null
          && delayBatch(lower.minRows(), latest, startOffsets, lower.maxTriggerDelayMs())) {
        LOG.debug("Delaying batch as number of records available is less than minOffsetsPerTrigger");
        offsets = startOffsets;
      } else if (upper != null) {
        offsets = rateLimit(upper.maxRows(), startOffsets, latest);
      } else {
        offsets = latest;
      }
    }
    return offsets.isEmpty() ? null : new KafkaSourceOffset(offsets);
  }

  private boolean delayBatch(long minLimit, Map<TopicPartition, Long> latest, Map<TopicPartition, Long> current,
      long maxTriggerDelay) {
    long now = System.currentTimeMillis();
    if (now - lastTriggerMillis >= maxTriggerDelay) {
      lastTriggerMillis = now;
      return false;
    }
    double newRecords = 0;
    for (Map.Entry<TopicPartition, Long> e : latest.entrySet()) {
      newRecords += e.getValue() - current.getOrDefault(e.getKey(), 0L);
    }
    if (newRecords < minLimit) return true;
    lastTriggerMillis = now;
    return false;
  }

  /** Spreads the limit over partitions in proportion to their backlog (Spark's rateLimit). */
  private Map<TopicPartition, Long> rateLimit(long limit, Map<TopicPartition, Long> from,
      Map<TopicPartition, Long> until) {
    Set<TopicPartition> newPartitions = new HashSet<>(until.keySet());
    newPartitions.removeAll(from.keySet());
    Map<TopicPartition, Long> fromNew = newPartitions.isEmpty()
        ? Collections.emptyMap() : offsetReader.fetchEarliestOffsets(newPartitions);
    Map<TopicPartition, Long> sizes = new HashMap<>();
    double total = 0;
    for (Map.Entry<TopicPartition, Long> e : until.entrySet()) {
      Long begin = from.containsKey(e.getKey()) ? from.get(e.getKey()) : fromNew.get(e.getKey());
      if (begin == null) continue; // let planInputPartitions report it
      long size = e.getValue() - begin;
      if (size > 0) {
        sizes.put(e.getKey(), size);
        total += size;
      }
    }
    if (total < 1) return until;
    Map<TopicPartition, Long> out = new HashMap<>();
    for (Map.Entry<TopicPartition, Long> e : until.entrySet()) {
      TopicPartition tp = e.getKey();
      long end = e.getValue();
      Long size = sizes.get(tp);
      if (size == null) {
        out.put(tp, end);
        continue;
      }
      long begin = from.containsKey(tp) ? from.get(tp) : fromNew.get(tp);
      double prorate = limit * (size / total);
      // Don't completely starve small partitions.
      long prorateLong = (long) (prorate < 1 ? Math.ceil(prorate) : Math.floor(prorate));
      long off = prorateLong > Long.MAX_VALUE - begin ? Long.MAX_VALUE : begin + prorateLong;
      out.put(tp, Math.min(end, off));
    }
    return out;
  }

  @Override
  public InputPartition[] planInputPartitions(Offset start, Offset end) {
    Map<TopicPartition, Long> from = KafkaSourceOffset.from(start).partitionToOffsets();
    Map<TopicPartition, Long> until = KafkaSourceOffset.from(end).partitionToOffsets();

    Set<TopicPartition> newPartitions = new HashSet<>(until.keySet());
    newPartitions.removeAll(from.keySet());
    Map<TopicPartition, Long> newInitial = offsetReader.fetchEarliestOffsets(newPartitions);
    if (!newInitial.keySet().equals(newPartitions)) {
      Set<TopicPartition> missing = new HashSet<>(newPartitions);
      missing.removeAll(newInitial.keySet());
      reportDataLoss("Cannot find earliest offsets of " + JsonUtils.describe(missing)
          + ". Some data may have been missed");
    }
    if (!newInitial.isEmpty()) LOG.info("Partitions added: {}", newInitial);
    for (Map.Entry<TopicPartition, Long> e : newInitial.entrySet()) {
      if (e.getValue() != 0) {
        reportDataLoss("Added partition " + e.getKey() + " starts from " + e.getValue()
            + " instead of 0. Some data may have been missed");
      }
    }
    Set<TopicPartition> deleted = new HashSet<>(from.keySet());
    deleted.removeAll(until.keySet());
    if (!deleted.isEmpty()) {
      String msg = JsonUtils.describe(deleted) + " are gone. ";
      msg += customGroupId ? SourceOptions.CUSTOM_GROUP_ID_ERROR_MESSAGE : "Some data may have been missed.";
      reportDataLoss(msg);
    }

    List<TopicPartition> tps = new ArrayList<>();
    for (TopicPartition tp : until.keySet()) {
      if (newInitial.containsKey(tp) || from.containsKey(tp)) tps.add(tp);
    }
    tps.sort(JsonUtils.TP_ORDER);

    // Partitions whose start is below the log start: the records in between are gone.
    List<TopicPartition> known = new ArrayList<>();
    for (TopicPartition tp : tps) {
      if (from.containsKey(tp) && until.get(tp) > from.get(tp)) known.add(tp);
    }
    Map<TopicPartition, Long> earliest = known.isEmpty()
        ? Collections.emptyMap() : offsetReader.fetchEarliestOffsets(known);

    List<KafkaOffsetRange> ranges = new ArrayList<>();
    for (TopicPartition tp : tps) {
      long fromOffset = from.containsKey(tp) ? from.get(tp) : newInitial.get(tp);
      long untilOffset = until.get(tp);
      if (untilOffset < fromOffset) {
        reportDataLoss("Partition " + tp + "'s offset was changed from " + fromOffset + " to " + untilOffset
            + ", some data may have been missed");
      } else {
        Long first = earliest.get(tp);
        if (first != null && first > fromOffset) {
          reportDataLoss("Cannot fetch records of topic " + tp.topic() + " partition " + tp.partition()
              + " in [" + fromOffset + ", " + Math.min(first, untilOffset) + "): the earliest available offset is "
              + first);
          fromOffset = Math.min(first, untilOffset);
        }
      }
      ranges.add(new KafkaOffsetRange(tp, fromOffset, untilOffset, null));
    }
    List<KafkaOffsetRange> planned = KafkaOffsetRange.getRanges(ranges, minPartitions, sortedExecutorList());
    InputPartition[] out = new InputPartition[planned.size()];
    for (int i = 0; i < out.length; i++) {
      KafkaOffsetRange r = planned.get(i);
      out[i] = new KafkaInputPartition(r.topicPartition.topic(), r.topicPartition.partition(), r.fromOffset,
          r.untilOffset, r.preferredLoc, executorKafkaParams, pollTimeoutMs, failOnDataLoss, includeHeaders);
    }
    return out;
  }

  /** Executors as "executor_host_id", sorted, so a partition goes to the same executor every batch. */
  private static String[] sortedExecutorList() {
    try {
      SparkEnv env = SparkEnv.get();
      if (env == null) return new String[0];
      BlockManager bm = env.blockManager();
      List<BlockManagerId> peers = new ArrayList<>(
          scala.collection.JavaConverters.seqAsJavaListConverter(bm.master().getPeers(bm.blockManagerId()))
              .asJava());
      peers.sort((a, b) -> a.host().equals(b.host())
          ? b.executorId().compareTo(a.executorId()) : b.host().compareTo(a.host()));
      String[] out = new String[peers.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = "executor_" + peers.get(i).host() + "_" + peers.get(i).executorId();
      }
      return out;
    } catch (RuntimeException e) {
      LOG.debug("Cannot list executors for locality preferences", e);
      return new String[0];
    }
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    return new KafkaPartitionReaderFactory();
  }

  @Override
  public Offset deserializeOffset(String json) {
    return KafkaSourceOffset.fromJson(json);
  }

  @Override
  public void commit(Offset end) {
  }

  @Override
  public void stop() {
    offsetReader.close();
    String groupId = executorKafkaParams.get("group.id");
    if (groupId != null) ConsumerPool.closeIdle(groupId);
  }

  @Override
  public String toString() {
    return "KafkaV2[" + offsetReader + "]";
  }

  @Override
  public Map<String, String> metrics(Optional<Offset> latestConsumedOffset) {
    return metrics(latestConsumedOffset, latestPartitionOffsets);
  }

  static Map<String, String> metrics(Optional<Offset> latestConsumedOffset, Map<TopicPartition, Long> latest) {
    if (latestConsumedOffset.isPresent() && latest != null && !latest.isEmpty()) {
      Map<TopicPartition, Long> consumed = KafkaSourceOffset.from(latestConsumedOffset.get()).partitionToOffsets();
      long min = Long.MAX_VALUE;
      long max = Long.MIN_VALUE;
      long sum = 0;
      for (Map.Entry<TopicPartition, Long> e : latest.entrySet()) {
        long behind = e.getValue() - consumed.getOrDefault(e.getKey(), 0L);
        min = Math.min(min, behind);
        max = Math.max(max, behind);
        sum += behind;
      }
      Map<String, String> out = new HashMap<>();
      out.put("minOffsetsBehindLatest", Long.toString(min));
      out.put("maxOffsetsBehindLatest", Long.toString(max));
      out.put("avgOffsetsBehindLatest", Double.toString((double) sum / latest.size()));
      return out;
    }
    return Collections.emptyMap();
  }

  private Map<TopicPartition, Long> getOrCreateInitialPartitionOffsets() {
    if (initialPartitionOffsets != null) return initialPartitionOffsets;
    SparkSession session = SparkSession.getActiveSession().isDefined()
        ? SparkSession.getActiveSession().get() : SparkSession.active();
    InitialOffsetLog log = new InitialOffsetLog(session, metadataPath);
    scala.Option<KafkaSourceOffset> existing = log.get(0);
    if (existing.isDefined()) {
      initialPartitionOffsets = existing.get().partitionToOffsets();
    } else {
      Map<TopicPartition, Long> offsets;
      switch (startingOffsets.kind) {
        case EARLIEST:
          offsets = offsetReader.fetchEarliestOffsets();
          break;
        case LATEST:
          offsets = offsetReader.fetchLatestOffsets(null);
          break;
        default:
          offsets = offsetReader.fetchSpecificOffsets(startingOffsets.specific);
      }
      KafkaSourceOffset offset = new KafkaSourceOffset(offsets);
      log.add(0, offset);
      LOG.info("Initial offsets: {}", offset.json());
      initialPartitionOffsets = offset.partitionToOffsets();
    }
    return initialPartitionOffsets;
  }

  @Override
  public void prepareForTriggerAvailableNow() {
    allDataForTriggerAvailableNow = offsetReader.fetchLatestOffsets(getOrCreateInitialPartitionOffsets());
  }

  private void reportDataLoss(String message) {
    DataLoss.report(failOnDataLoss, LOG, message);
  }
}

package io.cdcpipeline.spark.kafka;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;

/**
 * An executor consumer assigned to one topic-partition (never subscribe / group management). It keeps
 * the records of its last poll so that the next batch, which starts where this one ended, continues
 * without seeking.
 */
final class CachedKafkaConsumer {
  private static final Logger LOG = LoggerFactory.getLogger(CachedKafkaConsumer.class);

  final ConsumerPool.Key key;
  final TopicPartition tp;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private List<ConsumerRecord<byte[], byte[]>> buffer = Collections.emptyList();
  private int bufferIndex = 0;
  /**
   * The offset a caller may ask for next without a seek: no record exists in [nextOffset, first buffered
   * record or consumer position). -1 when unknown.
   */
  private long nextOffset = -1;
  volatile long lastUsedMs;

  CachedKafkaConsumer(ConsumerPool.Key key) {
    this.key = key;
    this.tp = key.tp;
    ClassLoader saved = Thread.currentThread().getContextClassLoader();
    try {
      Thread.currentThread().setContextClassLoader(CachedKafkaConsumer.class.getClassLoader());
      this.consumer = new KafkaConsumer<>(new HashMap<String, Object>(key.params),
          new ByteArrayDeserializer(), new ByteArrayDeserializer());
    } finally {
      Thread.currentThread().setContextClassLoader(saved);
    }
    consumer.assign(Collections.singletonList(tp));
  }

  void close() {
    try {
      consumer.close(Duration.ofSeconds(5));
    } catch (RuntimeException e) {
      LOG.warn("Error closing Kafka consumer for " + tp, e);
    }
  }

  private void seek(long offset) {
    consumer.seek(tp, offset);
    buffer = Collections.emptyList();
    bufferIndex = 0;
    nextOffset = offset;
  }

  /**
   * The first record with offset in [offset, until), or null when there is none (the consumer reached
   * {@code until}). Offsets inside the range that do not exist (compaction, transaction markers, broker
   * gaps) are skipped silently; records the broker no longer has are reported as data loss.
   */
  ConsumerRecord<byte[], byte[]> get(long offset, long until, long pollTimeoutMs, boolean failOnDataLoss) {
    if (offset >= until) return null;
    if (offset != nextOffset) seek(offset);
    boolean gapChecked = false;
    long lastProgress = System.currentTimeMillis();
    while (true) {
      while (bufferIndex < buffer.size()) {
        ConsumerRecord<byte[], byte[]> r = buffer.get(bufferIndex);
        if (r.offset() < offset) {
          bufferIndex++;
          continue;
        }
        if (r.offset() >= until) {
          nextOffset = until; // r stays buffered for the next batch
          return null;
        }
        if (r.offset() > offset && !gapChecked) {
          gapChecked = true;
          checkGap(offset, r.offset(), pollTimeoutMs, failOnDataLoss);
        }
        bufferIndex++;
        nextOffset = r.offset() + 1;
        return r;
      }
      long pos = consumer.position(tp, Duration.ofMillis(pollTimeoutMs));
      if (pos >= until) {
        nextOffset = until;
        return null;
      }
      long waited = System.currentTimeMillis() - lastProgress;
      if (waited >= pollTimeoutMs) {
        String msg = "Timed out after " + pollTimeoutMs + " ms reading topic " + tp.topic() + " partition "
            + tp.partition() + " in [" + offset + ", " + until + "): no record arrived and the consumer "
            + "position stayed at " + pos + ", so the records in [" + pos + ", " + until + ") could not be "
            + "fetched (the broker lost them, or is unreachable)";
        nextOffset = -1;
        if (failOnDataLoss) {
          throw new TimeoutException(msg + ". " + DataLoss.INSTRUCTION_FOR_FAIL_ON_DATA_LOSS_TRUE);
        }
        LOG.warn(msg + ". Skipping them. " + DataLoss.INSTRUCTION_FOR_FAIL_ON_DATA_LOSS_FALSE);
        return null;
      }
      ConsumerRecords<byte[], byte[]> records;
      try {
        records = consumer.poll(Duration.ofMillis(Math.min(pollTimeoutMs - waited, 1000L)));
      } catch (OffsetOutOfRangeException e) {
        long resume = handleOutOfRange(offset, until, pollTimeoutMs, failOnDataLoss);
        if (resume < 0) {
          nextOffset = -1;
          return null;
        }
        offset = resume;
        seek(offset);
        gapChecked = true;
        lastProgress = System.currentTimeMillis();
        continue;
      }
      List<ConsumerRecord<byte[], byte[]>> got = records.records(tp);
      if (!got.isEmpty()) {
        buffer = got;
        bufferIndex = 0;
        lastProgress = System.currentTimeMillis();
      } else if (consumer.position(tp) > pos) {
        lastProgress = System.currentTimeMillis(); // moved over control batches or a gap
      }
    }
  }

  private long earliestOffset(long timeoutMs) {
    Long e = consumer.beginningOffsets(Collections.singletonList(tp), Duration.ofMillis(timeoutMs)).get(tp);
    return e == null ? 0L : e;
  }

  /** A gap before the first record: fine unless the missing offsets are below the log start. */
  private void checkGap(long offset, long recordOffset, long timeoutMs, boolean failOnDataLoss) {
    long earliest = earliestOffset(timeoutMs);
    if (earliest > offset) {
      DataLoss.report(failOnDataLoss, LOG, "Cannot fetch records of topic " + tp.topic() + " partition "
          + tp.partition() + " in [" + offset + ", " + Math.min(earliest, recordOffset)
          + "): the earliest available offset is " + earliest);
    }
  }

  /** Returns the offset to continue from, or -1 to end the range. */
  private long handleOutOfRange(long offset, long until, long timeoutMs, boolean failOnDataLoss) {
    long earliest = earliestOffset(timeoutMs);
    if (offset < earliest) {
      DataLoss.report(failOnDataLoss, LOG, "Cannot fetch offset " + offset + " of topic " + tp.topic()
          + " partition " + tp.partition() + ": records in [" + offset + ", " + Math.min(earliest, until)
          + ") are no longer available (earliest available offset is " + earliest + ")");
      return earliest >= until ? -1 : earliest;
    }
    DataLoss.report(failOnDataLoss, LOG, "Cannot fetch offset " + offset + " of topic " + tp.topic()
        + " partition " + tp.partition() + ": it is out of range (beyond the end of the partition); records in ["
        + offset + ", " + until + ") are not available");
    return -1;
  }
}

package io.cdcpipeline.spark.kafka;

import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Per-JVM pool of executor consumers keyed by (kafka params, topic-partition), so that a partition read
 * batch after batch by the same executor keeps its consumer (and its prefetched records). Idle consumers
 * are closed after 5 minutes, beyond 64 idle ones, when the query stops (same JVM) and at JVM exit.
 */
final class ConsumerPool {
  private static final Logger LOG = LoggerFactory.getLogger(ConsumerPool.class);
  static final long IDLE_TIMEOUT_MS = 5 * 60 * 1000L;
  static final int MAX_IDLE = 64;

  static final class Key {
    final Map<String, String> params;
    final TopicPartition tp;
    private final int hash;

    Key(Map<String, String> params, TopicPartition tp) {
      this.params = new HashMap<>(params);
      this.tp = tp;
      this.hash = 31 * this.params.hashCode() + tp.hashCode();
    }

    String groupId() {
      return params.get("group.id");
    }

    @Override
    public boolean equals(Object o) {
      if (!(o instanceof Key)) return false;
      Key k = (Key) o;
      return hash == k.hash && tp.equals(k.tp) && params.equals(k.params);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  private static final Map<Key, ArrayDeque<CachedKafkaConsumer>> IDLE = new HashMap<>();
  private static int idleCount = 0;

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(ConsumerPool::closeAll, "cdc-kafka-consumer-pool-close"));
  }

  private ConsumerPool() {}

  static CachedKafkaConsumer acquire(Map<String, String> params, TopicPartition tp) {
    Key key = new Key(params, tp);
    CachedKafkaConsumer c = null;
    List<CachedKafkaConsumer> toClose;
    synchronized (ConsumerPool.class) {
      ArrayDeque<CachedKafkaConsumer> q = IDLE.get(key);
      if (q != null) {
        c = q.pollFirst();
        if (q.isEmpty()) IDLE.remove(key);
        if (c != null) idleCount--;
      }
      toClose = evict(System.currentTimeMillis());
    }
    closeAll(toClose);
    if (c == null) c = new CachedKafkaConsumer(key);
    return c;
  }

  static void release(CachedKafkaConsumer c, boolean reusable) {
    if (!reusable) {
      c.close();
      return;
    }
    List<CachedKafkaConsumer> toClose;
    synchronized (ConsumerPool.class) {
      c.lastUsedMs = System.currentTimeMillis();
      IDLE.computeIfAbsent(c.key, k -> new ArrayDeque<>()).addFirst(c);
      idleCount++;
      toClose = evict(c.lastUsedMs);
    }
    closeAll(toClose);
  }

  /** Closes the idle consumers of a query (its executor group id). */
  static void closeIdle(String groupId) {
    List<CachedKafkaConsumer> toClose = new ArrayList<>();
    synchronized (ConsumerPool.class) {
      Iterator<Map.Entry<Key, ArrayDeque<CachedKafkaConsumer>>> it = IDLE.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<Key, ArrayDeque<CachedKafkaConsumer>> e = it.next();
        if (groupId.equals(e.getKey().groupId())) {
          toClose.addAll(e.getValue());
          idleCount -= e.getValue().size();
          it.remove();
        }
      }
    }
    closeAll(toClose);
  }

  static void closeAll() {
    List<CachedKafkaConsumer> toClose = new ArrayList<>();
    synchronized (ConsumerPool.class) {
      for (ArrayDeque<CachedKafkaConsumer> q : IDLE.values()) toClose.addAll(q);
      IDLE.clear();
      idleCount = 0;
    }
    closeAll(toClose);
  }

  static synchronized int idleCount() {
    return idleCount;
  }

  /** Removes expired consumers and, beyond the capacity, the least recently used ones. Caller holds the lock. */
  private static List<CachedKafkaConsumer> evict(long now) {
    List<CachedKafkaConsumer> out = new ArrayList<>();
    Iterator<Map.Entry<Key, ArrayDeque<CachedKafkaConsumer>>> it = IDLE.entrySet().iterator();
    while (it.hasNext()) {
      ArrayDeque<CachedKafkaConsumer> q = it.next().getValue();
      q.removeIf(c -> {
        if (now - c.lastUsedMs > IDLE_TIMEOUT_MS) {
          out.add(c);
          return true;
        }
        return false;
      });
      if (q.isEmpty()) it.remove();
    }
    idleCount -= out.size();
    while (idleCount > MAX_IDLE) {
      ArrayDeque<CachedKafkaConsumer> oldestQ = null;
      for (ArrayDeque<CachedKafkaConsumer> q : IDLE.values()) {
        if (oldestQ == null || q.peekLast().lastUsedMs < oldestQ.peekLast().lastUsedMs) oldestQ = q;
      }
      CachedKafkaConsumer c = oldestQ.pollLast();
      if (oldestQ.isEmpty()) IDLE.values().remove(oldestQ);
      out.add(c);
      idleCount--;
    }
    return out;
  }

  private static void closeAll(List<CachedKafkaConsumer> consumers) {
    for (CachedKafkaConsumer c : consumers) {
      try {
        c.close();
      } catch (RuntimeException e) {
        LOG.warn("Error closing Kafka consumer", e);
      }
    }
  }
}

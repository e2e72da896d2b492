package io.cdcpipeline.debezium;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Every Debezium message repeats its schema: {@code {"schema":{...3 KB...},"payload":{...}}}. This cache
 * keeps the schema texts seen last (per JVM, for Kafka values and keys apart, as their parse depth limits
 * differ) with the value they parse to, so a message whose schema bytes equal a cached text is parsed
 * from the end of that text on: the same result as parsing it all (the same text parses to the same
 * value, at the same place in the same document), at a fraction of the cost. Anything unusual in the
 * rest falls back to the ordinary full decode, so errors are reported as ever.
 *
 * <p>Each entry also keeps its image schemas compiled into columns and codecs ({@link #compiled}).
 * Entries and parsed values are never changed after publication; the entry array is copy-on-write.
 */
final class SchemaCache {
    static final String PREFIX_TEXT = "{\"schema\":";
    private static final byte[] PREFIX = PREFIX_TEXT.getBytes(StandardCharsets.US_ASCII);
    private static final int CAPACITY = 32;
    private static final int MAX_TEXT = 128 * 1024;  // a schema of ~600 columns; bigger ones are parsed every time

    static final SchemaCache VALUES = new SchemaCache(PyJson.MAX_DEPTH_VALUE);
    static final SchemaCache KEYS = new SchemaCache(PyJson.MAX_DEPTH_KEY);

    final int maxDepth;
    private volatile Entry[] entries = new Entry[0];
    /** Documents parsed from a cached schema on (statistics for tests and benchmarks). */
    final LongAdder hits = new LongAdder();

    private SchemaCache(int maxDepth) {
        this.maxDepth = maxDepth;
    }

    static final class Entry {
        final byte[] text;
        final Object value;
        private volatile IdentityHashMap<Object, Object> compiled = new IdentityHashMap<>();

        Entry(byte[] text, Object value) {
            this.text = text;
            this.value = value;
        }

        /** What compile(schema) made of this image schema (a part of value) before, or null. */
        Object compiled(Object imageSchema) {
            return compiled.get(imageSchema);
        }

        synchronized void remember(Object imageSchema, Object result) {
            if (compiled.size() >= 16) return;  // only a message with odd duplicates gets here
            IdentityHashMap<Object, Object> copy = new IdentityHashMap<>(compiled);
            copy.put(imageSchema, result);
            compiled = copy;
        }
    }

    /** A parsed document and the cache entry its schema came from (null: parsed in full). */
    static final class Parsed {
        final Object document;
        final Entry entry;

        Parsed(Object document, Entry entry) {
            this.document = document;
            this.entry = entry;
        }
    }

    private static boolean hasPrefix(byte[] raw) {
        return raw.length > PREFIX.length && Arrays.equals(raw, 0, PREFIX.length, PREFIX, 0, PREFIX.length);
    }

    /** The document parsed from its cached schema on, or null when that does not apply. */
    Parsed tryCached(byte[] raw) {
        if (!hasPrefix(raw)) return null;
        for (Entry e : entries) {
            int end = PREFIX.length + e.text.length;
            if (end < raw.length && Arrays.equals(raw, PREFIX.length, end, e.text, 0, e.text.length)) {
                if (PyJson.firstInvalidUtf8(raw, end) >= 0) return null;
                try {
                    String rest = new String(raw, end, raw.length - end, StandardCharsets.UTF_8);
                    Parsed parsed = new Parsed(PyJson.continueEnvelope(rest, e.value, maxDepth), e);
                    hits.increment();
                    return parsed;
                } catch (PyJson.Failure | PyJson.StopIteration | PyException | RuntimeException err) {
                    return null;
                }
            }
        }
        return null;
    }

    /** After a full parse of text: remember its schema (first[0], ending at char first[1]) if it has one. */
    Entry remember(String text, Object[] first) {
        if (!(first[0] instanceof Map) || first[1] == null) return null;
        String schema = text.substring(PREFIX_TEXT.length(), (Integer) first[1]);
        if (schema.length() > MAX_TEXT) return null;
        Entry entry = new Entry(schema.getBytes(StandardCharsets.UTF_8), first[0]);
        synchronized (this) {
            Entry[] old = entries;
            for (Entry e : old) {
                if (Arrays.equals(e.text, entry.text)) return e;
            }
            Entry[] next = new Entry[Math.min(old.length + 1, CAPACITY)];
            next[0] = entry;
            System.arraycopy(old, 0, next, 1, next.length - 1);
            entries = next;
        }
        return entry;
    }
}

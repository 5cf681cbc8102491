/**
 * How a store's in-memory cache learns that someone else changed its object store: the other stores
 * of the same kind on the same database in this realm are told at once (synchronously), other realms
 * (tabs, workers) through a BroadcastChannel. Used by the history and the feedback stores.
 */

/**
 * This realm's mark on its channel messages. BroadcastChannel also delivers to the other channels of
 * the sending realm, whose stores were told already (synchronously): they skip it, so one write moves
 * their state once. Any other message (another tab; older SDKs post the string 'changed') counts.
 */
const REALM_ID = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

/** Open channels per channel name in this realm. */
const open = new Map<string, Set<ChangeChannel>>();

export class ChangeChannel {
  private channel: BroadcastChannel | null = null;

  /** `name`: the store kind and database (e.g. 'scenerec-history:<db>'); `onChange`: someone else changed it. */
  constructor(private readonly name: string, private readonly onChange: () => void) {
    if (typeof BroadcastChannel !== 'undefined') {
      try {
        const ch = new BroadcastChannel(name);
        ch.onmessage = (m: MessageEvent) => {
          if ((m.data as { realm?: unknown } | null)?.realm !== REALM_ID) this.onChange();
        };
        (ch as { unref?: () => void }).unref?.(); // Node: do not keep the process alive
        this.channel = ch;
      } catch { /* no channel: other realms' changes go unheard */ }
    }
    let set = open.get(name);
    if (!set) open.set(name, (set = new Set()));
    set.add(this);
  }

  /** Whether other realms' changes are heard: only then may a cache outlive a read. */
  get hearsOthers(): boolean {
    return this.channel !== null;
  }

  /** After a committed write: the others, here and in other realms, hear of it. */
  announce(): void {
    for (const other of open.get(this.name) ?? []) if (other !== this) other.onChange();
    try { this.channel?.postMessage({ changed: true, realm: REALM_ID }); } catch { /* closed */ }
  }

  /** No more news either way. */
  close(): void {
    this.channel?.close();
    this.channel = null;
    open.get(this.name)?.delete(this);
  }
}

/**
 * @module
 * The idempotent-producer state machine (PROTOCOL.md §5.2.1). Given the last
 * accepted (epoch, seq) of a producer on a stream and the headers of a new
 * request, it decides: accept, duplicate, stale epoch, bad new epoch, or gap.
 * Pure: the engine applies the decision and persists the new state with the data.
 */

/** What the server remembers per (stream, producer id). */
export interface ProducerState {
  /** Current epoch. */
  epoch: number;
  /** Highest accepted seq within `epoch`. */
  seq: number;
}

/** The outcome of checking one request against a producer's state. */
export type ProducerDecision =
  | { kind: "accept"; next: ProducerState }
  | { kind: "duplicate"; state: ProducerState }
  | { kind: "stale_epoch"; currentEpoch: number }
  | { kind: "new_epoch_seq_not_zero" }
  | { kind: "gap"; expectedSeq: number; receivedSeq: number };

/** Decides what to do with a request carrying `epoch` and `seq`. */
export function decideProducer(
  state: ProducerState | undefined,
  epoch: number,
  seq: number,
): ProducerDecision {
  if (state === undefined) {
    // A producer we have never seen must start at seq 0, in any epoch.
    if (seq !== 0) return { kind: "gap", expectedSeq: 0, receivedSeq: seq };
    return { kind: "accept", next: { epoch, seq } };
  }
  if (epoch < state.epoch) {
    return { kind: "stale_epoch", currentEpoch: state.epoch };
  }
  if (epoch > state.epoch) {
    if (seq !== 0) return { kind: "new_epoch_seq_not_zero" };
    return { kind: "accept", next: { epoch, seq } };
  }
  if (seq <= state.seq) return { kind: "duplicate", state };
  if (seq === state.seq + 1) return { kind: "accept", next: { epoch, seq } };
  return { kind: "gap", expectedSeq: state.seq + 1, receivedSeq: seq };
}

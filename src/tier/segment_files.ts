/**
 * @module
 * Sealed segment files waiting for upload in `<data-dir>/segments/`: their
 * names (sortable by stream and position), removal, and the start-up sweep
 * of files no WAL row names (crash leftovers).
 */

import { join } from "node:path";
import type { SegmentRow } from "../storage/wal_store.ts";

/** The local file name of a segment (sortable by stream and position). */
export function fileName(
  row: Pick<SegmentRow, "streamId" | "startPos" | "endPos">,
): string {
  const pad = (n: number) => String(n).padStart(16, "0");
  return `${pad(row.streamId)}-${pad(row.startPos)}-${pad(row.endPos)}.seg`;
}

/** The path of `row`'s file under `segmentDir`. */
export function segmentFilePath(segmentDir: string, row: SegmentRow): string {
  return join(segmentDir, fileName(row));
}

/** Removes `row`'s file if it is there; never throws. */
export async function removeSegmentFile(
  segmentDir: string,
  row: SegmentRow,
): Promise<void> {
  await Deno.remove(segmentFilePath(segmentDir, row)).catch(() => {});
}

/** Deletes the files in `segmentDir` not named by a row of `pending`. */
export async function sweepSegmentFiles(
  segmentDir: string,
  pending: Iterable<SegmentRow>,
): Promise<void> {
  const wanted = new Set<string>();
  for (const row of pending) wanted.add(fileName(row));
  for await (const entry of Deno.readDir(segmentDir)) {
    if (entry.isFile && !wanted.has(entry.name)) {
      await Deno.remove(join(segmentDir, entry.name)).catch(() => {});
    }
  }
}

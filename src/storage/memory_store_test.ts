import {
  walStoreCompactionContract,
  walStoreContract,
  walStoreKeysContract,
  walStoreReleaseContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import { MemoryStore, MemoryWal } from "./memory_store.ts";

// Reopening the same directory must see the same data: share one MemoryWal per dir.
const wals = new Map<string, MemoryWal>();
const openMemory = (dir: string) => {
  if (!wals.has(dir)) wals.set(dir, new MemoryWal());
  return new MemoryStore(wals.get(dir));
};
walStoreContract("MemoryStore", openMemory);
walStoreSegmentContract("MemoryStore", openMemory);
walStoreCompactionContract("MemoryStore", openMemory);
walStoreKeysContract("MemoryStore", openMemory);
walStoreReleaseContract("MemoryStore", openMemory);

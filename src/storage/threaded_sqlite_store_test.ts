import {
  walStoreCompactionContract,
  walStoreContract,
  walStoreKeysContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import { openThreadedSqliteStore } from "./threaded_sqlite_store.ts";

const openThreaded = (dir: string) =>
  openThreadedSqliteStore(`${dir}/wal.sqlite`, "fsync");
walStoreContract("ThreadedSqliteStore", openThreaded);
walStoreSegmentContract("ThreadedSqliteStore", openThreaded);
walStoreCompactionContract("ThreadedSqliteStore", openThreaded);
walStoreKeysContract("ThreadedSqliteStore", openThreaded);

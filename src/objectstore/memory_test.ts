import { objectStoreContract } from "./_contract.ts";
import { MemoryObjectStore } from "./memory.ts";

objectStoreContract("MemoryObjectStore", (listPageKeysMax) =>
  Promise.resolve({
    store: new MemoryObjectStore({ listPageKeysMax }),
    close: () => Promise.resolve(),
  }));

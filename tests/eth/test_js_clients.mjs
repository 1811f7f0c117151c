// ethers v6 and viem against a Consortia network, as dapps use them: EIP-1559 by default,
// deploy, call, events, revert reasons, receipts, WebSocket subscriptions, the pool and the new
// methods, the CREATE2 deployer; and an unfunded sender gets each client's own
// insufficient-funds error at once, never a hang.
//
// Run by scripts/eth-clients (after test_clients.py) with CONSORTIA_RPC, CONSORTIA_WS and
// EVM_VERSION; the chain charges a base fee of 1 wei and funds the key 3 account.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as ethers from "ethers";
import {
  BaseError,
  ContractFunctionRevertedError,
  InsufficientFundsError,
  createPublicClient,
  createWalletClient,
  defineChain,
  getContractAddress,
  http,
  webSocket,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

const HERE = dirname(fileURLToPath(import.meta.url));
const RPC = process.env.CONSORTIA_RPC;
const WS = process.env.CONSORTIA_WS;
const EVM_VERSION = process.env.EVM_VERSION || "cancun";
const FUNDED_KEY = "0x" + "3".padStart(64, "0"); // funded in genesis by scripts/eth-clients
const CREATE2_DEPLOYER = "0x4e59b44847b379578588920cA78FbF26c0B4956C";

let failures = 0;
function check(cond, what) {
  if (cond) {
    console.log(`ok: ${what}`);
  } else {
    console.error(`FAILED: ${what}`);
    failures += 1;
  }
}

/** Runs `body`; the error it throws (or null). */
async function caught(body) {
  try {
    await body();
    return null;
  } catch (e) {
    return e;
  }
}

function compile(file, name) {
  const out = execFileSync("node", [join(HERE, "compile_sol.js"), join(HERE, "contracts", file), EVM_VERSION]);
  return JSON.parse(out)[name];
}

async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function ethersFlow(registry) {
  // ethers caches identical requests for 250 ms (`cacheTimeout`), nonces included: on a chain
  // that commits in a few tens of ms, a wallet's second transaction would reuse the first's
  // nonce (anvil users meet the same). Dapps turn the cache off or use a NonceManager.
  const provider = new ethers.JsonRpcProvider(RPC, undefined, {
    staticNetwork: true,
    pollingInterval: 100,
    cacheTimeout: -1,
  });
  const funder = new ethers.Wallet(FUNDED_KEY, provider);
  const fees = await provider.getFeeData();
  check(fees.maxFeePerGas !== null && fees.maxFeePerGas > 0n, `ethers: EIP-1559 fee data (${fees.maxFeePerGas})`);

  // A fresh wallet, funded by a value transfer that ethers sends as EIP-1559 on its own.
  const wallet = ethers.Wallet.createRandom(provider);
  const funding = await funder.sendTransaction({ to: wallet.address, value: 10n ** 18n });
  check(funding.type === 2, `ethers: a plain sendTransaction is type 2 (got ${funding.type})`);
  const funded = await funding.wait();
  check(funded.status === 1, "ethers: the transfer's receipt");
  check((await provider.getBalance(wallet.address)) === 10n ** 18n, "ethers: the balance arrived");

  // Deploy, call, event, revert reason.
  const factory = new ethers.ContractFactory(registry.abi, registry.bytecode, wallet);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  const address = await contract.getAddress();
  check((await provider.getCode(address)).length > 2, `ethers: deployed at ${address}`);
  const key = ethers.id("ethers-key");
  const receipt = await (await contract.register(key, "hello")).wait();
  const event = receipt.logs.map((l) => contract.interface.parseLog(l)).find((e) => e && e.name === "Registered");
  check(event && event.args.value === "hello" && event.args.who === wallet.address, "ethers: event decoded");
  check((await contract.values(key)) === "hello", "ethers: view call");
  const reverted = await caught(() => contract.register.staticCall(key, "again"));
  check(reverted && reverted.reason === "key taken", `ethers: revert reason decoded (${reverted && reverted.reason})`);
  const gasBurned = funded.gasUsed * funded.gasPrice;
  check(funded.gasPrice === 1n && gasBurned === 21000n, `ethers: the transfer paid 21000 gas at 1 wei (${funded.gasPrice})`);

  // The new methods, through the provider.
  const pending = await provider.getBlock("pending");
  check(pending !== null && pending.hash === null, "ethers: the pending block has no hash");
  const receipts = await provider.send("eth_getBlockReceipts", [ethers.toQuantity(receipt.blockNumber)]);
  check(receipts.some((r) => r.transactionHash === receipt.hash), "ethers: eth_getBlockReceipts");
  const status = await provider.send("txpool_status", []);
  check(typeof status.pending === "string" && typeof status.queued === "string", "ethers: txpool_status");
  const byIndex = await provider.send("eth_getTransactionByBlockNumberAndIndex", [
    ethers.toQuantity(receipt.blockNumber), ethers.toQuantity(receipt.index),
  ]);
  check(byIndex.hash === receipt.hash && byIndex.blockTimestamp !== undefined, "ethers: by block and index, with blockTimestamp");

  // CREATE2 through the deterministic deployment proxy.
  const salt = ethers.id("consortia");
  const predicted = ethers.getCreate2Address(CREATE2_DEPLOYER, salt, ethers.keccak256(registry.bytecode));
  const create2 = await wallet.sendTransaction({ to: CREATE2_DEPLOYER, data: ethers.concat([salt, registry.bytecode]) });
  await create2.wait();
  check((await provider.getCode(predicted)).length > 2, `ethers: CREATE2 through the proxy deployed at ${predicted}`);

  // WebSocket: a subscription to the contract's event.
  const ws = new ethers.WebSocketProvider(WS);
  const watched = new ethers.Contract(address, registry.abi, ws);
  const heard = new Promise((resolve) => watched.on("Registered", (_who, _key, value) => resolve(value)));
  await new Promise((r) => setTimeout(r, 500)); // let the subscription reach the node
  await (await contract.register(ethers.id("ws-key"), "over websocket")).wait();
  const value = await withTimeout(heard, 15000, "ethers WebSocket event").catch((e) => e.message);
  check(value === "over websocket", `ethers: WebSocket event (${value})`);
  await ws.destroy();

  // An unfunded sender: ethers' own INSUFFICIENT_FUNDS at once.
  const broke = ethers.Wallet.createRandom(provider);
  const started = Date.now();
  const refused = await caught(() =>
    withTimeout(broke.sendTransaction({ to: wallet.address, value: 1n, gasLimit: 21000n }), 10000, "ethers send"),
  );
  check(refused && refused.code === "INSUFFICIENT_FUNDS", `ethers: INSUFFICIENT_FUNDS (${refused && (refused.code || refused.message)})`);
  check(Date.now() - started < 5000, "ethers: refused at once, not after a timeout");
  provider.destroy();
}

async function viemFlow(registry, chainId) {
  const chain = defineChain({
    id: chainId,
    name: "consortia",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [RPC], webSocket: [WS] } },
  });
  const client = createPublicClient({ chain, transport: http(RPC), pollingInterval: 100 });
  const funder = createWalletClient({ chain, transport: http(RPC), account: privateKeyToAccount(FUNDED_KEY) });

  const hash = await funder.deployContract({ abi: registry.abi, bytecode: registry.bytecode });
  const deployed = await client.waitForTransactionReceipt({ hash });
  const tx = await client.getTransaction({ hash });
  check(tx.type === "eip1559", `viem: deployContract sends EIP-1559 (${tx.type})`);
  const address = deployed.contractAddress;
  check(
    address === getContractAddress({ from: funder.account.address, nonce: BigInt(tx.nonce) }),
    `viem: deployed at the CREATE address ${address}`,
  );
  const key = "0x" + "ab".repeat(32);
  const { request } = await client.simulateContract({
    address, abi: registry.abi, functionName: "register", args: [key, "viem"], account: funder.account,
  });
  const written = await client.waitForTransactionReceipt({ hash: await funder.writeContract(request) });
  check(written.status === "success", "viem: writeContract");
  const logs = await client.getContractEvents({ address, abi: registry.abi, eventName: "Registered", fromBlock: written.blockNumber, toBlock: written.blockNumber });
  check(logs.length === 1 && logs[0].args.value === "viem", "viem: getContractEvents decodes the event");
  check((await client.readContract({ address, abi: registry.abi, functionName: "values", args: [key] })) === "viem", "viem: readContract");
  // eth_simulateV1: a write in one simulated block, read in the next; nothing is kept.
  const simKey = "0x" + "ef".repeat(32);
  const [first, second] = await client.simulateBlocks({
    blocks: [
      { calls: [{ to: address, abi: registry.abi, functionName: "register", args: [simKey, "simulated"], from: funder.account.address }] },
      { calls: [{ to: address, abi: registry.abi, functionName: "values", args: [simKey] }] },
    ],
  });
  check(first.calls[0].status === "success" && first.calls[0].logs.length === 1, "viem: simulateBlocks runs a write with its event");
  check(second.calls[0].result === "simulated", `viem: simulateBlocks' next block reads it (${second.calls[0].result})`);
  check(second.number === first.number + 1n, "viem: simulated blocks are numbered in order");
  check((await client.readContract({ address, abi: registry.abi, functionName: "values", args: [simKey] })) === "", "viem: nothing simulated is kept");
  const reverted = await caught(() =>
    client.simulateContract({ address, abi: registry.abi, functionName: "register", args: [key, "again"], account: funder.account }),
  );
  const revert = reverted instanceof BaseError ? reverted.walk((e) => e instanceof ContractFunctionRevertedError) : null;
  check(revert && revert.reason === "key taken", `viem: ContractFunctionRevertedError with the reason (${revert && revert.reason})`);

  // WebSocket: watch the event.
  const wsClient = createPublicClient({ chain, transport: webSocket(WS) });
  const heard = new Promise((resolve) => {
    const stop = wsClient.watchContractEvent({
      address, abi: registry.abi, eventName: "Registered",
      onLogs: (found) => { stop(); resolve(found[0].args.value); },
    });
  });
  await new Promise((r) => setTimeout(r, 500));
  const again = await funder.writeContract({ address, abi: registry.abi, functionName: "register", args: ["0x" + "cd".repeat(32), "watched"] });
  await client.waitForTransactionReceipt({ hash: again });
  const value = await withTimeout(heard, 15000, "viem WebSocket event").catch((e) => e.message);
  check(value === "watched", `viem: watchContractEvent over WebSocket (${value})`);

  // An unfunded sender: viem's InsufficientFundsError at once.
  const broke = createWalletClient({ chain, transport: http(RPC), account: privateKeyToAccount("0x" + "77".repeat(32)) });
  const started = Date.now();
  const refused = await caught(() =>
    withTimeout(broke.sendTransaction({ to: address, value: 1n, gas: 21000n }), 10000, "viem send"),
  );
  const insufficient = refused instanceof BaseError ? refused.walk((e) => e instanceof InsufficientFundsError) : null;
  check(insufficient !== null, `viem: InsufficientFundsError (${refused && refused.shortMessage})`);
  check(Date.now() - started < 5000, "viem: refused at once, not after a timeout");
}

const registry = compile("Registry.sol", "Registry");
const answer = await fetch(RPC, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
});
const chainId = Number((await answer.json()).result);
await ethersFlow(registry);
await viemFlow(registry, chainId);
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
process.exit(0);

"""Real Ethereum clients against a Consortia network: web3.py and eth-account sign and send,
Vyper and solc-js (solc) compile, and py-evm (eth-tester) runs the same ERC-20 flow as the
reference the chain's gas, status and logs must equal.

Run by scripts/eth-clients with CONSORTIA_RPC (a node's JSON-RPC URL), CONSORTIA_WS (another
node's WebSocket URL) and EVM_VERSION.
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from web3 import AsyncWeb3, EthereumTesterProvider, Web3, WebSocketProvider
from web3.exceptions import ContractLogicError

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
# The notary system contract (contracts/system/INotary.sol).
NOTARY = "0x0000000000000000000000000000000000001001"
EVM_VERSION = os.environ.get("EVM_VERSION", "cancun")
# eth-tester's funded accounts are the keys 1, 2, 3...; scripts/eth-clients funds the same
# addresses in the chain's genesis.
KEYS = [Account.from_key(i.to_bytes(32, "big")) for i in (1, 2, 3)]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def vyper(path):
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", "abi,bytecode", "--evm-version", EVM_VERSION, str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    return json.loads(out[0]), out[1]


def solidity(path, name):
    out = subprocess.run(
        ["node", str(HERE / "compile_sol.js"), str(path), EVM_VERSION],
        check=True, capture_output=True, text=True,
    ).stdout
    c = json.loads(out)[name]
    return c["abi"], c["bytecode"]


class Chain:
    """One chain (ours or py-evm's) and the keys that sign for it."""

    def __init__(self, w3, fees):
        self.w3 = w3
        self.fees = fees
        self.chain_id = w3.eth.chain_id

    def send(self, key, tx):
        tx = dict(tx)
        tx.setdefault("value", 0)
        tx["nonce"] = self.w3.eth.get_transaction_count(key.address, "pending")
        tx["chainId"] = self.chain_id
        tx.update(self.fees)
        if "gas" not in tx:
            tx["gas"] = self.w3.eth.estimate_gas({k: v for k, v in tx.items() if k in ("from", "to", "data", "value")} | {"from": key.address})
        signed = key.sign_transaction(tx)
        h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.05)


def erc20_flow(chain, abi, bytecode):
    """Deploy, transfer, approve, transferFrom, an over-balance transfer: the receipts."""
    owner, bob, carol = KEYS
    token = chain.w3.eth.contract(abi=abi, bytecode=bytecode)
    receipts = [chain.send(owner, {"data": token.constructor(10**24).data_in_transaction})]
    token = chain.w3.eth.contract(address=receipts[0]["contractAddress"], abi=abi)
    steps = [
        (owner, token.functions.transfer(bob.address, 500)),
        (owner, token.functions.approve(bob.address, 300)),
        (bob, token.functions.transferFrom(owner.address, carol.address, 200)),
    ]
    for key, fn in steps:
        receipts.append(chain.send(key, {"to": token.address, "data": fn._encode_transaction_data()}))
    # Over balance: the call reports the reason; sent anyway (fixed gas), it fails on chain.
    over = token.functions.transfer(owner.address, 10**30)
    try:
        over.call({"from": carol.address})
        reason = None
    except Exception as e:  # web3 raises ContractLogicError; eth-tester, TransactionFailed
        reason = str(e)
    receipts.append(chain.send(carol, {"to": token.address, "data": over._encode_transaction_data(), "gas": 100_000}))
    return token, receipts, reason


def main():
    w3 = Web3(Web3.HTTPProvider(os.environ["CONSORTIA_RPC"]))
    # The chain's base fee (scripts/eth-clients starts it at 1 wei): what eth_gasPrice says.
    ours = Chain(w3, {"gasPrice": w3.eth.gas_price})
    check(w3.eth.gas_price == 1, "eth_gasPrice is the base fee")
    alice, bob, carol = KEYS

    # Transfers: legacy (EIP-155) and EIP-1559.
    before = w3.eth.get_balance(carol.address)
    r = ours.send(alice, {"to": carol.address, "value": 1000, "gas": 21_000})
    check(r["status"] == 1 and r["gasUsed"] == 21_000, "legacy transfer")
    tx = {"to": carol.address, "value": 2000, "gas": 21_000, "type": 2,
          "nonce": w3.eth.get_transaction_count(alice.address, "pending"), "chainId": ours.chain_id,
          "maxFeePerGas": 1, "maxPriorityFeePerGas": 0}
    h = w3.eth.send_raw_transaction(alice.sign_transaction(tx).raw_transaction)
    r = w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.05)
    check(r["status"] == 1 and r["type"] == 2, "EIP-1559 transfer")
    check(w3.eth.get_balance(carol.address) == before + 3000, "balances moved")

    # The Vyper ERC-20 flow, on our chain and on py-evm (eth-tester) at the same fork.
    abi, bytecode = vyper(HERE / "contracts" / "Token.vy")
    bench_copy = (ROOT / "crates" / "cli" / "assets" / "erc20-token.hex").read_text().strip()
    check(bench_copy == bytecode, "the load generator's ERC-20 (crates/cli/assets/erc20-token.hex) is Token.vy's bytecode")
    abi_copy = json.loads((ROOT / "crates" / "cli" / "assets" / "erc20-token.abi.json").read_text())
    check(abi_copy == abi, "crates/cli/assets/erc20-token.abi.json is Token.vy's ABI")
    token, receipts, reason = erc20_flow(ours, abi, bytecode)
    check(token.functions.balanceOf(bob.address).call() == 500, "transfer")
    check(token.functions.balanceOf(carol.address).call() == 200, "transferFrom to carol")
    check(token.functions.allowance(alice.address, bob.address).call() == 100, "allowance spent")
    check(reason is not None and "insufficient balance" in reason, f"revert reason decoded: {reason}")
    check([r["status"] for r in receipts] == [1, 1, 1, 1, 0], "statuses")

    backend = PyEVMBackend(vm_configuration=((0, vm_class(EVM_VERSION)),))
    tester = Web3(EthereumTesterProvider(EthereumTester(backend)))
    base = tester.eth.get_block("latest")["baseFeePerGas"]
    reference = Chain(tester, {"maxFeePerGas": base * 4 + 10**9, "maxPriorityFeePerGas": 0})
    # Same nonces on both sides: the reference's accounts have sent nothing yet, ours sent two
    # transfers from alice first. Replay those first so addresses match.
    for _ in range(2):
        reference.send(alice, {"to": carol.address, "value": 1, "gas": 21_000})
    _, expected, _ = erc20_flow(reference, abi, bytecode)
    for i, (got, want) in enumerate(zip(receipts, expected)):
        check(got["status"] == want["status"], f"step {i}: status {got['status']} = py-evm {want['status']}")
        check(got["gasUsed"] == want["gasUsed"], f"step {i}: gasUsed {got['gasUsed']} = py-evm {want['gasUsed']}")
        strip = lambda logs: [(l["address"], [bytes(t) for t in l["topics"]], bytes(l["data"])) for l in logs]
        check(strip(got["logs"]) == strip(want["logs"]), f"step {i}: logs equal py-evm's")
    check(receipts[0]["contractAddress"] == expected[0]["contractAddress"], "same contract address")

    # Logs by address and by topic.
    transfer_topic = Web3.keccak(text="Transfer(address,address,uint256)")
    by_address = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": token.address})
    check(len(by_address) == 4, f"eth_getLogs by address: {len(by_address)} (mint, transfer, approve, transferFrom)")
    by_topic = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "topics": [transfer_topic]})
    check(len(by_topic) == 3, f"eth_getLogs by topic: {len(by_topic)} (mint, transfer, transferFrom)")
    events = token.events.Transfer().process_receipt(receipts[1])
    check(events[0]["args"]["value"] == 500, "web3 decodes the Transfer event")

    # A Solidity contract compiled with solc-js for the chain's fork.
    abi, bytecode = solidity(HERE / "contracts" / "Registry.sol", "Registry")
    r = ours.send(alice, {"data": w3.eth.contract(abi=abi, bytecode=bytecode).constructor().data_in_transaction})
    check(r["status"] == 1, "Solidity contract deployed")
    registry = w3.eth.contract(address=r["contractAddress"], abi=abi)
    key = Web3.keccak(text="invoice-1")
    r = ours.send(bob, {"to": registry.address, "data": registry.functions.register(key, "paid")._encode_transaction_data()})
    check(r["status"] == 1 and len(r["logs"]) == 1, "Solidity call with an event")
    check(registry.functions.values(key).call() == "paid", "Solidity state read back")
    try:
        registry.functions.register(key, "again").call({"from": carol.address})
        check(False, "a taken key reverts")
    except ContractLogicError as e:
        check("key taken" in str(e), f"Solidity revert reason: {e}")
    notary_checks(ours)
    extension_checks(ours)

    # A WebSocket logs subscription on another validator receives the events of a transfer
    # sent to the first one; newHeads announces its block.
    asyncio.run(subscriptions(ours, token, transfer_topic))
    print("all Ethereum client checks passed")


def notary_checks(ours):
    """The notary system contract from web3 (its ABI compiled from INotary.sol) and from
    Solidity; records show through the REST API too."""
    alice, bob, _ = KEYS
    w3 = ours.w3
    notary_abi, _ = solidity(ROOT / "contracts" / "system" / "INotary.sol", "INotary")
    notary = w3.eth.contract(address=NOTARY, abi=notary_abi)
    digest = Web3.keccak(text="the contract text")
    call = notary.functions.notarizeWithFields("deal-1", digest, "signed", ["buyer", "seller"], ["acme", "globex"])
    r = ours.send(alice, {"to": NOTARY, "data": call._encode_transaction_data()})
    check(r["status"] == 1, "web3 notarizes through the system contract")
    event = notary.events.Notarized().process_receipt(r)[0]["args"]
    check((event["id"], event["contentHash"], event["owner"]) == ("deal-1", digest, alice.address), f"Notarized event decoded: {event}")
    record = notary.functions.getRecord("deal-1").call()
    check(record[0] and record[2] == alice.address and record[5] == r["transactionHash"], "getRecord: exists, owner, transaction")
    check((record[7], record[8]) == (["buyer", "seller"], ["acme", "globex"]), "getRecord: fields")
    try:
        notary.functions.notarize("deal-1", digest, "again").call({"from": bob.address})
        check(False, "a taken id reverts")
    except ContractLogicError as e:
        check("already exists" in str(e), f"taken id reason: {e}")
    base = os.environ["CONSORTIA_RPC"].rsplit("/rpc", 1)[0]
    rest = json.load(urllib.request.urlopen(f"{base}/v1/notary/records/deal-1"))
    check(rest["owner"].lower() == alice.address.lower(), "the REST API shows the record web3 made")
    by_hash = json.load(urllib.request.urlopen(f"{base}/v1/notary/by-hash/{digest.hex()}"))
    check("deal-1" in json.dumps(by_hash), f"found by content hash: {by_hash}")

    abi, bytecode = solidity(HERE / "contracts" / "Invoices.sol", "Invoices")
    r = ours.send(bob, {"data": w3.eth.contract(abi=abi, bytecode=bytecode).constructor().data_in_transaction})
    invoices = w3.eth.contract(address=r["contractAddress"], abi=abi)
    r = ours.send(bob, {"to": invoices.address, "data": invoices.functions.file("inv-9", digest)._encode_transaction_data()})
    check(r["status"] == 1 and len(r["logs"]) == 2, "Solidity calls the notary (Notarized + Filed)")
    check(invoices.functions.ownerOf("inv-9").call() == invoices.address, "Solidity reads the record: the contract owns it")
    r = ours.send(bob, {"to": invoices.address, "data": invoices.functions.tryFile("inv-10", digest)._encode_transaction_data(), "gas": 300_000})
    check(r["status"] == 1 and len(r["logs"]) == 0, "try/catch around a reverting filing succeeds")
    check(not notary.functions.getRecord("inv-10").call()[0], "the reverted filing left no record")


def extension_checks(ours):
    """The contract extensions (contracts/system/ICrypto.sol, IBase64.sol, IJson.sol) called from
    Solidity, with keys and signatures made here by PyCryptodome (RSA, ed25519) or taken from the
    standards (SM3 and SM2, which PyCryptodome lacks)."""
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import ECC, RSA
    from Crypto.Signature import eddsa, pkcs1_15, pss

    _, bob, _ = KEYS
    w3 = ours.w3
    partner = RSA.generate(2048)
    n = partner.n.to_bytes(256, "big")
    e = partner.e.to_bytes(3, "big")
    abi, bytecode = solidity(HERE / "contracts" / "SignedOrders.sol", "SignedOrders")
    r = ours.send(bob, {"data": w3.eth.contract(abi=abi, bytecode=bytecode).constructor(n, e).data_in_transaction})
    check(r["status"] == 1, "SignedOrders deployed")
    orders = w3.eth.contract(address=r["contractAddress"], abi=abi)

    order = json.dumps({"id": "po-42", "paid": True, "items": [{"sku": "A-1", "qty": 12}]})
    signature = pkcs1_15.new(partner).sign(SHA256.new(order.encode()))
    b64 = base64.b64encode(signature).decode()
    r = ours.send(bob, {"to": orders.address, "data": orders.functions.accept(order, b64)._encode_transaction_data()})
    event = orders.events.Accepted().process_receipt(r)[0]["args"]
    check(r["status"] == 1 and (event["id"], event["qty"], event["paid"]) == ("po-42", 12, True),
          f"an RSA-signed JSON order, Base64 signature: verified and read in Solidity ({r['gasUsed']} gas)")
    forged = order.replace("12", "99")
    try:
        orders.functions.accept(forged, b64).call({"from": bob.address})
        check(False, "a forged order reverts")
    except ContractLogicError as err:
        check("not signed by the partner" in str(err), f"forged order refused: {err}")

    message = b"settlement 2026-12"
    salted = pss.new(partner, salt_bytes=32).sign(SHA256.new(message))
    check(orders.functions.pss(message, salted, 32).call(), "RSA-PSS (salt 32) verifies")
    check(not orders.functions.pss(message, salted, 20).call(), "RSA-PSS with another salt length does not")

    device = ECC.generate(curve="ed25519")
    key = device.public_key().export_key(format="raw")
    sig = eddsa.new(device, "rfc8032").sign(message)
    check(orders.functions.ed25519(key, message, sig).call(), "ed25519 (PyCryptodome's signature) verifies")
    check(not orders.functions.ed25519(key, message + b"!", sig).call(), "ed25519 over another message does not")

    abc = orders.functions.sm3(b"abc").call()
    check(abc.hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", "SM3 of 'abc' is the standard's")
    # GB/T 32918.2's example on the recommended curve (default id), key as raw x || y.
    sm2_key = bytes.fromhex("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
                            "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
    sm2_sig = bytes.fromhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
                            "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
    check(orders.functions.sm2(sm2_key, b"message digest", sm2_sig).call(), "SM2: the standard's signature verifies")
    check(not orders.functions.sm2(sm2_key, b"message digesT", sm2_sig).call(), "SM2 over another message does not")

    data = bytes([0xFB, 0xFF, 0xBF, 0x00, 0x61])
    check(orders.functions.base64(data).call() == [base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode().rstrip("=")],
          "Base64 in both alphabets equals Python's")
    check(orders.functions.json('{"d":[-7,3]}', "/d").call() == [True, 2, -7], "JSON: has, length, getInt")
    check(orders.functions.json('{"d":[-7,3]}', "/e").call() == [False, 0, 0], "JSON: a missing member")
    try:
        orders.functions.json('{"d":', "/d").call()
        check(False, "a document that is not JSON reverts")
    except ContractLogicError as err:
        check("IJson: not JSON" in str(err), f"not JSON: {err}")


async def subscriptions(ours, token, transfer_topic):
    _, bob, carol = KEYS
    async with AsyncWeb3(WebSocketProvider(os.environ["CONSORTIA_WS"])) as ws:
        check(await ws.eth.chain_id == ours.chain_id, "JSON-RPC over WebSocket")
        logs = await ws.eth.subscribe("logs", {"address": token.address, "topics": [transfer_topic]})
        heads = await ws.eth.subscribe("newHeads")
        data = token.functions.transfer(carol.address, 7)._encode_transaction_data()
        receipt = await asyncio.to_thread(ours.send, bob, {"to": token.address, "data": data})
        got_log = got_head = None

        async def listen():
            nonlocal got_log, got_head
            async for msg in ws.socket.process_subscriptions():
                if msg["subscription"] == logs:
                    got_log = msg["result"]
                elif msg["subscription"] == heads and msg["result"]["number"] == receipt["blockNumber"]:
                    got_head = msg["result"]
                if got_log is not None and got_head is not None:
                    return

        await asyncio.wait_for(listen(), timeout=30)
        check(got_log["transactionHash"] == receipt["transactionHash"], "the logs subscription got the transfer")
        event = token.events.Transfer().process_log(got_log)
        check((event["args"]["sender"], event["args"]["value"]) == (bob.address, 7), f"web3 decodes the pushed event: {event['args']}")
        check(got_head["hash"] == receipt["blockHash"], "newHeads announced the block")
        check(await ws.eth.unsubscribe(logs) and await ws.eth.unsubscribe(heads), "unsubscribed")


def vm_class(name):
    from eth.vm.forks import CancunVM, PragueVM
    return {"cancun": CancunVM, "prague": PragueVM}[name]


if __name__ == "__main__":
    main()

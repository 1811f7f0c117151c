// Compiles one Solidity file with solc-js for an EVM version; prints {abi, bytecode} per contract.
// Imports resolve from the repository root (e.g. "contracts/system/INotary.sol").
// Usage: node compile_sol.js FILE EVM_VERSION
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const [file, evmVersion] = process.argv.slice(2);
const input = {
  language: "Solidity",
  sources: { [path.basename(file)]: { content: fs.readFileSync(file, "utf8") } },
  settings: {
    evmVersion,
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const root = path.join(__dirname, "..", "..");
const findImports = (p) => {
  try {
    return { contents: fs.readFileSync(path.join(root, p), "utf8") };
  } catch (e) {
    return { error: `${p}: ${e.message}` };
  }
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const out = {};
for (const contracts of Object.values(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    out[name] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
  }
}
console.log(JSON.stringify(out));

// Runs the firmware's own tests under the real MicroPython interpreter
// (the WebAssembly port from npm), the way `make firmware-test` does.
//
// The firmware package (firmware/*.py, not firmware/sim/) is copied to
// /firmware in the interpreter's filesystem, as it is copied to the flash
// root of an RP2040 board; every tests/firmware/test_fw_*.py module is then
// imported and each of its test_* functions called.  Exit status 0 only if
// every test passed.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const only = process.argv[2] || "";

const mp = await loadMicroPython({
  heapsize: 8 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

mp.FS.mkdir("/firmware");
for (const name of readdirSync(join(root, "firmware"))) {
  if (name.endsWith(".py")) {
    mp.FS.writeFile("/firmware/" + name, readFileSync(join(root, "firmware", name)));
  }
}
mp.FS.mkdir("/tests");
const modules = [];
for (const name of readdirSync(here).sort()) {
  if (!name.endsWith(".py")) continue;
  mp.FS.writeFile("/tests/" + name, readFileSync(join(here, name)));  // test modules and their helpers
  if (name.startsWith("test_fw_") && name.includes(only)) modules.push(name.slice(0, -3));
}
if (modules.length === 0) {
  console.error("no tests/firmware/test_fw_*.py modules found");
  process.exit(1);
}

const runner = `
import sys
print("interpreter:", sys.implementation.name, sys.version, "(" + sys.implementation._machine + ")")
sys.path.insert(0, "/tests")
sys.path.insert(0, "/")
_passed = 0
_failed = []
for _mod_name in ${JSON.stringify(modules)}:
    _mod = __import__(_mod_name)
    for _name in sorted(dir(_mod)):
        if not _name.startswith("test_"):
            continue
        _fn = getattr(_mod, _name)
        try:
            _fn()
            _passed += 1
            print("PASS", _mod_name + "." + _name)
        except Exception as _e:
            _failed.append(_mod_name + "." + _name)
            print("FAIL", _mod_name + "." + _name, repr(_e))
            sys.print_exception(_e)
print("micropython firmware tests: %d passed, %d failed" % (_passed, len(_failed)))
if _failed:
    raise SystemExit("failed: " + ", ".join(_failed))
`;
try {
  mp.runPython(runner);
} catch (e) {
  // an uncaught Python exception (a failed test, or a module that does not
  // import under MicroPython) surfaces here
  console.error(String(e.message || e).split("\n").slice(-3).join("\n"));
  process.exit(1);
}
process.exit(0);

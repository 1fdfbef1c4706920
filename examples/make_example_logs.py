#!/usr/bin/env python3
"""Writes the bundled example repository: examples/repository/LogFiles/940[1-5].txt.

Deterministic (no clock, no `random`): running it again gives the same bytes.
9403 is a Windows log: CRLF, Windows-1252 (not valid UTF-8), no final newline.
"""
import hashlib
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "repository", "LogFiles")
REPORT = "/repository/reports/Testsuite_Report_2025-03-09_235502"


class Lcg:
    """Tiny deterministic generator, so the output never depends on Python's `random`."""

    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % 2**64
        return (self.s >> 33) % n


def sample(n):
    return hashlib.sha256(f"sample-{n}".encode()).hexdigest()


def version_block(binary, commit):
    return [
        "=== CCExtractor Binary Version ===",
        "CCExtractor 0.96.5, Carlos Fernandez Sanz, Volker Quetschke.",
        "Teletext portions taken from Petr Kutalek's telxcc",
        "--------------------------------------------------------------------------",
        "Version: 0.96.5",
        f"Git commit: {commit}",
        "Compilation date: 2025-03-09",
        f"File SHA256: {hashlib.sha256(binary.encode()).hexdigest()}",
        "Libraries used by CCExtractor",
        "Tesseract Version: 5.3.0",
        "Leptonica Version: leptonica-1.82.0",
        "libGPAC Version: 2.2.1",
        "zlib: 1.2.13",
        "utf8proc Version: 2.8.0",
        "libpng Version: 1.6.39",
        "FreeType: FreeType 2.12.1",
        "libhash",
        "nuklear: 4.10.5",
        "=== End Version Info ===",
    ]


def posting(step, ok_sticks_to=None):
    lines = [f"Posting {step} to the server:", "Status posted successfully (HTTP 200)"]
    lines.append("OK" + ok_sticks_to if ok_sticks_to else "OK")
    return lines


def runner_start(entries, report=REPORT, exe="/repository/ccextractor"):
    return [
        f"Running the test suite: mono /repository/ccx_testsuite/CCExtractorTester.exe --entries "
        f"/repository/reports/TestAll.xml --executable {exe} --timeout 600 --reportfolder {report}",
        "[INFO] Test suite version: 1.0.3.0",
        "[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)",
        "[INFO] Overriding timeout with: 600",
        f"[INFO] Multitest, overriding report folder to: {report}",
        f"[INFO] Loaded {entries} entries from /repository/reports/TestAll.xml",
    ]


STDERR = [
    "[ERROR] Missing or invalid XDS packet, skipping",
    "[ERROR] Warning: Ignoring a broken PES packet (size 184)",
    "[ERROR] Error: Failed to open output file: Permission denied",
    "[ERROR] Warning: Unable to find a known stream type in the first 188 bytes",
    "[ERROR] Path is empty",
    "[ERROR] The remote server returned an error: (500) INTERNAL SERVER ERROR.",
]
ARGS = ["--autoprogram --out=srt --latin1", "--out=ttxt", "-autoprogram -out=webvtt", "--out=spupng", "-in=wtv"]


def entry(n, total, rnd, exit_code=0, stderr=(), aborted=False, report=REPORT):
    h = sample(n)
    lines = [
        f"[INFO] Starting with entry {n} of {total}",
        f"[INFO] Running: /repository/ccextractor {ARGS[n % len(ARGS)]} /repository/TestFiles/{h}.ts "
        f"-o {report}/{h}.srt",
    ]
    lines += list(stderr)
    if aborted:
        lines.append("[WARN] Aborting CCExtractor, maximum time elapsed.")
    lines.append(f"Comparing output to /repository/TestResults/{h[:12]}/{h}.srt")
    lines.append(f"[INFO] Finished entry {n} with exit code: {exit_code}")
    secs = 600 if aborted else 1 + rnd.next(250)
    lines.append(f"[INFO] Runtime: 00:{secs // 60:02d}:{secs % 60:02d}.{rnd.next(10**7):07d}")
    return lines


def log_9401():
    rnd = Lcg(9401)
    out = posting("preparation - Loaded variables, created log file and checking for CCExtractor build artifact")
    out += [
        "Found CCExtractor build artifact at /repository/vm_data/unsafe-ccextractor/ccextractor",
        "Uploading binary artifact (/repository/vm_data/unsafe-ccextractor/ccextractor)",
        "OK",
    ]
    out += version_block("9401", "7a3c1f0e5b2d8c46a9e1b07d3f2c5a8e9d10b4c2")
    out += [""]
    out += posting("testing - Running tests")
    out += runner_start(40)
    errs = {4: [STDERR[0]], 11: [STDERR[1], STDERR[1]], 17: [STDERR[3]], 23: [STDERR[0]], 31: [STDERR[4]], 38: [STDERR[1]]}
    for n in range(1, 41):
        out += entry(n, 40, rnd, stderr=errs.get(n, ()))
        if n == 27:
            out.append("[WARN] Output differs only in trailing whitespace; treating as pass")
    out += [
        "[INFO] Done: 40 of 40 entries match the expected output",
        f"[INFO] Saving report to {REPORT}/index.html",
    ]
    out += posting("completed - Ran all tests")
    out += [
        f"Uploading combined_stdout artifact ({REPORT}/combined_stdout.log)",
        "OK",
        "Artifact coredump: no file at '', skipping",
        "Sending log to the server:",
    ]
    return "\n".join(out) + "\n"


def log_9402():
    rep = "/repository/reports/Testsuite_Report_2025-03-10_001134"
    lib_err = "error while loading shared libraries: libtesseract.so.5: cannot open shared object file: No such file or directory"
    out = posting("preparation - Loaded variables, created log file and checking for CCExtractor build artifact")
    out += [
        "Found CCExtractor build artifact at /repository/vm_data/unsafe-ccextractor/ccextractor",
        "Checking the binary runs on this VM",
        "=== CCExtractor Binary Version ===",
        f"/repository/vm_data/unsafe-ccextractor/ccextractor: {lib_err}",
        "=== End Version Info ===",
        "Posting testing - Running tests to the server:",
    ]
    for a in (1, 2, 3):
        out.append(f"Attempt {a}/3 failed (curl exit: 7, HTTP: 000)")
        if a < 3:
            out.append("Retrying in 5 seconds...")
    out.append("ERROR: Failed to post status after 3 attempts")
    out += runner_start(86, report=rep)
    out += [
        "[INFO] Starting with entry 1 of 86",
        f"[ERROR] /repository/ccextractor: {lib_err}",
        "[INFO] Finished entry 1 with exit code: 127",
        "[INFO] Runtime: 00:00:00.0213456",
        "[INFO] Starting with entry 2 of 86",
        f"[ERROR] /repository/ccextractor: {lib_err}",
        "[INFO] Finished entry 2 with exit code: 127",
        "[INFO] Runtime: 00:00:00.0198765",
        "[ERROR] Too many consecutive failures (2); the executable does not start. Aborting the test run.",
        f"[INFO] Saving report to {rep}/index.html",
        "Posting completed - Ran all tests to the server:",
        "Status posted successfully (HTTP 200)",
        f"OKUploading combined_stdout artifact ({rep}/combined_stdout.log)",
        "Artifact combined_stdout: upload failed (curl exit 22)",
        "Artifact coredump: no file at '', skipping",
        "Sending log to the server:",
    ]
    return "\n".join(out) + "\n"


def log_9403():
    # Windows runCI.bat: echoes commands, CRLF, Windows-1252, no final newline.
    vm = r"C:\repository\vm_data\unsafe-ccextractor"
    rep = r"C:\repository\reports\Testsuite_Report_2025-03-10_001502"
    rnd = Lcg(9403)
    out = [
        "cd .",
        "Posting status preparation - Loaded variables, created log file and checking for CCExtractor build artifact (attempt 1/3)",
        "Status posted successfully",
        rf"if exist {vm}\ccextractorwinfull.exe (echo Found ccextractorwinfull.exe)",
        "Found ccextractorwinfull.exe",
        rf"copy /Y {vm}\*.* C:\repository\ccextractor",
        "        14 file(s) copied.",
    ]
    out += version_block("9403", "7a3c1f0e5b2d8c46a9e1b07d3f2c5a8e9d10b4c2")
    out += [
        "Posting status testing - Running tests (attempt 1/3)",
        "Status posted successfully",
        r"cd C:\repository\ccx_testsuite",
        rf"CCExtractorTester.exe --entries C:\repository\reports\TestAll.xml --executable C:\repository\ccextractor\ccextractorwinfull.exe --timeout 600 --reportfolder {rep}",
        "[INFO] Test suite version: 1.0.3.0",
        "[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)",
        "[INFO] Overriding timeout with: 600",
        f"[INFO] Multitest, overriding report folder to: {rep}",
    ]
    for n in range(1, 13):
        h = sample(1000 + n)
        out.append(f"[INFO] Starting with entry {n} of 12")
        if n == 3:
            out.append(r"[ERROR] Could not open C:\repository\TestFiles\Séries\Épisode_€uro_2024.ts: file name encoding")
        if n == 5:
            out.append("[ERROR] Warning: Caption page ‘888’ not found – using page 889")
        if n == 8:
            out.append("[WARN] Aborting CCExtractor, maximum time elapsed.")
        if n == 9:
            out.append("[ERROR] The remote server returned an error: (500) INTERNAL SERVER ERROR.")
        out.append(rf"Comparing output to C:\repository\TestResults\{h[:12]}\{h}.srt")
        code = {3: 2, 8: -1}.get(n, 0)
        out.append(f"[INFO] Finished entry {n} with exit code: {code}")
        secs = 600 if n == 8 else 1 + rnd.next(120)
        out.append(f"[INFO] Runtime: 00:{secs // 60:02d}:{secs % 60:02d}.{rnd.next(10**7):07d}")
    out += [
        rf"[INFO] Saving report to {rep}\index.html",
        "Command exited with 1",
        "Posting status completed - Ran all tests, 2 failures (attempt 1/3)",
        "Status posted successfully",
        "echo Résumé: 10/12 passed – coût 0,00 €",
        "Résumé: 10/12 passed – coût 0,00 €",
        "Sending log to server (attempt 1/3)",
    ]
    return "\r\n".join(out).encode("cp1252")  # no final newline


def log_9404():
    t = lambda s: f"2025-03-09T23:{55 + s // 60:02d}:{s % 60:02d}Z"  # noqa: E731
    out = [
        f"{t(2)} INFO worker: Starting",
        f"{t(2)} INFO orchestrator: Run 9404 assigned to worker linux-vm-3 (commit 7a3c1f0e)",
        f"{t(3)} DEBUG worker: Loaded variables from /repository/vm_data/variables",
        f"{t(3)} INFO build: cmake -DWITH_OCR=ON -DWITH_HARDSUBX=ON ../src",
        "-- The C compiler identification is GNU 12.2.0",
        "-- Detecting C compiler ABI info - done",
        "CMake Error at CMakeLists.txt:10 (message):",
        "  Tesseract >= 5 is required for -DWITH_OCR=ON",
        "-- Configuring incomplete, errors occurred!",
        f"{t(9)} WARNING worker: cmake failed, retrying the build without OCR",
        f"{t(10)} INFO build: cmake -DWITH_OCR=OFF ../src",
        "-- Configuring done",
        "-- Generating done",
        "-- Build files have been written to: /repository/build",
        f"{t(12)} INFO build: make -j2",
        "[  2%] Building C object src/CMakeFiles/ccx.dir/lib_ccx/ccx_common_char_encoding.c.o",
        "[  4%] Building C object src/CMakeFiles/ccx.dir/lib_ccx/ccx_decoders_608.c.o",
        "src/lib_ccx/ccx_decoders_608.c:12:5: warning: unused variable 'x' [-Wunused-variable]",
        "   12 |     int x;",
        "      |     ^",
        "[  6%] Building C object src/CMakeFiles/ccx.dir/lib_ccx/ccx_decoders_708.c.o",
        "src/lib_ccx/ccx_decoders_708.c:341:17: warning: comparison of integer expressions of different signedness: 'int' and 'unsigned int' [-Wsign-compare]",
        "[  8%] Building C object src/CMakeFiles/ccx.dir/lib_ccx/ccx_encoders_srt.c.o",
        "src/lib_ccx/ccx_encoders_srt.c:88:9: error: implicit declaration of function 'write_wrapped' [-Werror=implicit-function-declaration]",
        "   88 |         write_wrapped(context->out->fh, buf, len);",
        "      |         ^~~~~~~~~~~~~",
        "cc1: some warnings being treated as errors",
        "make[2]: *** [src/CMakeFiles/ccx.dir/build.make:76: src/CMakeFiles/ccx.dir/lib_ccx/ccx_encoders_srt.c.o] Error 1",
        "make[1]: *** [CMakeFiles/Makefile2:104: src/CMakeFiles/ccx.dir/all] Error 2",
        "make: *** [Makefile:12] Error 1",
        f"{t(71)} ERROR build: Failed",
        f"{t(71)} ERROR worker: Build step exited with 2; no binary to test",
        "2025-03-10T00:56:11.250+01:00 WARNING web: Status callback slow (2.4 s)",
        f"{t(72)} INFO web: POST /progress-reporter/9404 -> 200",
        f"{t(72)} CRITICAL orchestrator: Run 9404 marked as failed: build error",
        f"{t(73)} INFO worker: Uploading build log /repository/build/build.log",
        f"{t(74)} INFO worker: Shutting down VM linux-vm-3",
    ]
    return "\n".join(out) + "\n"


def log_9405():
    rnd = Lcg(9405)
    rep = "/repository/reports/Testsuite_Report_2025-03-11_021540"
    out = posting("preparation - Loaded variables, created log file and checking for CCExtractor build artifact")
    out += ["Found CCExtractor build artifact at /repository/vm_data/unsafe-ccextractor/ccextractor"]
    out += version_block("9405", "c0ffee4b2d8c46a9e1b07d3f2c5a8e9d10b4c2aa")
    out += posting("testing - Running tests")
    total = 480
    out += runner_start(total, report=rep)
    for n in range(1, total + 1):
        r = rnd.next(100)
        stderr, code, aborted = [], 0, False
        if r < 30:  # a looping stream error, repeated
            k = 3 + rnd.next(30)
            stderr = [f"[ERROR] Warning: Ignoring a broken PES packet (size {184 * (1 + i % 7)})" for i in range(k)]
            code = 0 if r < 20 else 5
        elif r < 40:
            stderr = [STDERR[rnd.next(len(STDERR))]]
            code = 1
        elif r < 45:
            aborted, code = True, -1
        elif r < 55:
            stderr = ["[WARN] Output differs from the expected result at line %d" % (1 + rnd.next(400))]
        if n == 150:  # one over-long stderr line (> 4000 characters) to exercise truncation
            stderr = ["[ERROR] Dump of bad packet: " + " ".join(f"{(i * 37) % 256:02x}" for i in range(1500))]
            code = 1
        out += entry(n, total, rnd, exit_code=code, stderr=stderr, aborted=aborted, report=rep)
    out += [
        f"[INFO] All {total} entries finished",
        f"[INFO] Saving report to {rep}/index.html",
        "",
        "Posting completed - Ran all tests to the server:",
        "Attempt 1/3 failed (curl exit: 28, HTTP: 000)",
        "Retrying in 5 seconds...",
        "Status posted successfully (HTTP 200)",
        f"OKUploading combined_stdout artifact ({rep}/combined_stdout.log)",
        "OK",
        "Artifact coredump: no file at '', skipping",
        "Sending log to the server:",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for run_id, make in [(9401, log_9401), (9402, log_9402), (9403, log_9403), (9404, log_9404), (9405, log_9405)]:
        data = make()
        with open(os.path.join(OUT, f"{run_id}.txt"), "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    with open(os.path.join(OUT, "README.txt"), "w") as f:
        f.write("This folder holds CI run logs, one per run, named {run_id}.txt; runlogd ignores this file.\n")

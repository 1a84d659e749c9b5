# Build the Windows key helper, cagj-ukey-helper-<version>-win64.exe, with PyInstaller (see README.md beside this
# file). Run on Windows 10/11 x64 (or a Windows CI runner) from a clone of the repository, in PowerShell:
#
#   powershell -ExecutionPolicy Bypass -File ukey_helper\packaging\windows\build.ps1
#
# Needs the 64-bit CPython 3.11 from python.org (`py -3.11`). Everything else comes pinned from PyPI:
# ..\requirements.txt (the helper's dependencies, the versions the repository is tested with) and
# requirements-build.txt (PyInstaller). The result is in ukey_helper\packaging\windows\dist\ with its SHA-256.
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$Here = Split-Path -Parent $MyInvocation.MyCommand.Path
$Root = Resolve-Path (Join-Path $Here "..\..\..")
$Work = Join-Path $Here "build"
$Venv = Join-Path $Work "venv"
$Python = Join-Path $Venv "Scripts\python.exe"

function Invoke-Checked {
    param([string]$Exe, [string[]]$Arguments)
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed ($LASTEXITCODE)" }
}

# Reproducible: the same commit gives the same bytes (timestamps from the commit, fixed hash seed).
if (-not $env:SOURCE_DATE_EPOCH) {
    $env:SOURCE_DATE_EPOCH = (& git -C $Root log -1 --format=%ct).Trim()
}
$env:PYTHONHASHSEED = "0"
$env:PIP_DISABLE_PIP_VERSION_CHECK = "1"
$env:PIP_NO_INPUT = "1"

$Version = (& py -3.11 -c "import sys; sys.path.insert(0, r'$Root'); import ukey_helper; print(ukey_helper.__version__)").Trim()
$Bits = (& py -3.11 -c "import struct; print(struct.calcsize('P') * 8)").Trim()
if ($Bits -ne "64") { throw "64-bit Python 3.11 needed (py -3.11 is $Bits-bit)" }
Write-Host "==> key helper $Version for Windows x64"

if (Test-Path $Work) { Remove-Item -Recurse -Force $Work }
New-Item -ItemType Directory -Force -Path $Work | Out-Null
Invoke-Checked "py" @("-3.11", "-m", "venv", $Venv)
Invoke-Checked $Python @("-m", "pip", "install", "--quiet", "--only-binary=:all:",
    "-r", (Join-Path $Here "..\requirements.txt"), "-r", (Join-Path $Here "requirements-build.txt"))
# Copies of the two packages, so the in-tree build leaves nothing in the repository.
foreach ($Package in @("helper_protocol", "ukey_helper")) {
    robocopy (Join-Path $Root $Package) (Join-Path $Work "src\$Package") /E /XD __pycache__ build packaging /XF *.pyc *.egg-info /NFL /NDL /NJH /NJS | Out-Null
    if ($LASTEXITCODE -ge 8) { throw "copying $Package failed" }
}
Invoke-Checked $Python @("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
    (Join-Path $Work "src\helper_protocol"), (Join-Path $Work "src\ukey_helper"))

Push-Location $Here
try {
    Invoke-Checked $Python @("-m", "PyInstaller", "--clean", "--noconfirm", "--workpath", (Join-Path $Work "pyinstaller"),
        "--distpath", (Join-Path $Here "dist"), "cagj-ukey-helper.spec")
} finally {
    Pop-Location
}

$Exe = Join-Path $Here "dist\cagj-ukey-helper-$Version-win64.exe"
$Printed = (& $Exe --version).Trim()
if ($Printed -ne "ukey_helper $Version") { throw "the built helper says '$Printed'" }
$Hash = (Get-FileHash -Algorithm SHA256 $Exe).Hash.ToLower()
Write-Host "==> built $Exe"
Write-Host "    SHA-256 $Hash"
Write-Host "    next: sign it (signtool), copy it into the server's HELPER_RELEASE_DIR, run scripts/build_helper.sh --sums"

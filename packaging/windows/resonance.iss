; Inno Setup script for Resonance (run on Windows; see packaging/README.md).
; Build the bundle first:  .venv\Scripts\python -m PyInstaller packaging\resonance.spec --noconfirm --distpath build\dist --workpath build\pyi
; Then:                    iscc /DAppVersion=0.1.0 packaging\windows\resonance.iss
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6B0E6C8A-3F0B-4C9E-9E55-2E7A6C1D5A11}
AppName=Resonance
AppVersion={#AppVersion}
AppPublisher=Resonance developers
DefaultDirName={autopf}\Resonance
DefaultGroupName=Resonance
OutputDir=..\..\build\dist
OutputBaseFilename=Resonance-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\resonance.ico
UninstallDisplayIcon={app}\resonance.exe
Compression=lzma2
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog

[Files]
Source: "..\..\build\dist\resonance\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Resonance"; Filename: "{app}\resonance.exe"
Name: "{autodesktop}\Resonance"; Filename: "{app}\resonance.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a &desktop icon"; Flags: unchecked

[Run]
Filename: "{app}\resonance.exe"; Description: "Start Resonance"; Flags: nowait postinstall skipifsilent

"""Pre-generated prompt audio: what a caller hears when a prompt is played rather than said.

- :mod:`ivr.audio.engines`: the text-to-speech engines (gTTS, espeak-ng) and how they fail;
- :mod:`ivr.audio.mp3`: how long an MP3 lasts;
- :mod:`ivr.audio.manifest`: ``audio/manifest.json``, the files' names and their atomic writing;
- :mod:`ivr.audio.build`: ``ivr audio build``, every prompt of every flow made into audio ahead of time;
- :mod:`ivr.audio.recording`: ``ivr audio import``, prompts recorded by people (the only module that runs ffmpeg for it).

Serving the files and choosing ``<Play>`` or ``<Say>`` is :mod:`ivr.audio_web`'s job, at the web edge.
The names below are the package's interface; the rest of the service imports them from here.
"""

from ivr.audio.build import BuildReport, Progress, backoff_delay, build_audio, prompt_speeches, synthesize_with_retries
from ivr.audio.engines import (
    ENGINES,
    EspeakEngine,
    GTTSEngine,
    SynthesisError,
    Synthesizer,
    espeak_wav,
    make_engine,
    speech_engines,
)
from ivr.audio.manifest import (
    AUDIO_FILE,
    AUDIO_NAME,
    LANG_DIR,
    MANIFEST_NAME,
    AudioEntry,
    AudioManifest,
    ManifestError,
    Recording,
    audio_file_name,
    audio_files_on_disk,
    load_manifest,
    manifest_json,
    write_atomically,
)
from ivr.audio.mp3 import mp3_duration
from ivr.audio.recording import (
    TARGET_LUFS,
    TARGET_TRUE_PEAK,
    ConversionError,
    ImportReport,
    import_recordings,
    number_said,
    recording_id,
)

__all__ = [
    "AUDIO_FILE",
    "AUDIO_NAME",
    "ENGINES",
    "LANG_DIR",
    "MANIFEST_NAME",
    "TARGET_LUFS",
    "TARGET_TRUE_PEAK",
    "AudioEntry",
    "AudioManifest",
    "BuildReport",
    "ConversionError",
    "ImportReport",
    "EspeakEngine",
    "GTTSEngine",
    "ManifestError",
    "Recording",
    "Progress",
    "SynthesisError",
    "Synthesizer",
    "audio_file_name",
    "audio_files_on_disk",
    "backoff_delay",
    "build_audio",
    "espeak_wav",
    "import_recordings",
    "load_manifest",
    "make_engine",
    "manifest_json",
    "mp3_duration",
    "number_said",
    "prompt_speeches",
    "recording_id",
    "speech_engines",
    "synthesize_with_retries",
    "write_atomically",
]

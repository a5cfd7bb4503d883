"""Pre-generated prompt audio: what a caller hears when a prompt is played rather than said.

- :mod:`ivr.audio.engines`: the text-to-speech engines (gTTS, espeak-ng) and how they fail;
- :mod:`ivr.audio.mp3`: how long an MP3 lasts;
- :mod:`ivr.audio.manifest`: ``audio/manifest.json``, the files' names and their atomic writing;
- :mod:`ivr.audio.build`: ``ivr audio build``, every prompt of every flow made into audio ahead of time.

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
    audio_file_name,
    audio_files_on_disk,
    load_manifest,
    manifest_json,
    write_atomically,
)
from ivr.audio.mp3 import mp3_duration

__all__ = [
    "AUDIO_FILE",
    "AUDIO_NAME",
    "ENGINES",
    "LANG_DIR",
    "MANIFEST_NAME",
    "AudioEntry",
    "AudioManifest",
    "BuildReport",
    "EspeakEngine",
    "GTTSEngine",
    "ManifestError",
    "Progress",
    "SynthesisError",
    "Synthesizer",
    "audio_file_name",
    "audio_files_on_disk",
    "backoff_delay",
    "build_audio",
    "espeak_wav",
    "load_manifest",
    "make_engine",
    "manifest_json",
    "mp3_duration",
    "prompt_speeches",
    "speech_engines",
    "synthesize_with_retries",
    "write_atomically",
]

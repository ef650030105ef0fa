"""Call recording: decisions (recorder), the WAV format, retention, and the file sink.

The sink is the only part that does I/O (a worker thread); import it from ``recording.sink`` so
that importing the package's cores never drags threads in.
"""

from recording.recorder import (
    CallMeta,
    CloseRecording,
    MarkSegment,
    OpenRecording,
    Recorder,
    RecorderError,
    RecorderStateError,
    RecordingAction,
    RecordingKind,
    RecordingNotAllowed,
    RecordingPolicy,
    State,
    UnknownCall,
    WriteFrames,
)
from recording.retention import IndexRow, RetentionPolicy, expired, expires_at
from recording.wav import WavError, interleave, mono, repair

__all__ = [
    "CallMeta",
    "CloseRecording",
    "IndexRow",
    "MarkSegment",
    "OpenRecording",
    "Recorder",
    "RecorderError",
    "RecorderStateError",
    "RecordingAction",
    "RecordingKind",
    "RecordingNotAllowed",
    "RecordingPolicy",
    "RetentionPolicy",
    "State",
    "UnknownCall",
    "WavError",
    "WriteFrames",
    "expired",
    "expires_at",
    "interleave",
    "mono",
    "repair",
]

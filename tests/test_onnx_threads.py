"""ONNX Runtime sessions of the engine and the detector: thread count always given (never pinned)."""

from fusion_core.engine.onnx_backend import available_cpus, session_options


def test_onnx_sessions_never_leave_the_thread_count_to_ort():
    """ORT's default count (0) pins its pool threads to cores; the engine and detector always give one."""
    assert session_options(None).intra_op_num_threads == available_cpus() >= 1
    assert session_options(3).intra_op_num_threads == 3

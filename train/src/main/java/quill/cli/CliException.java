package quill.cli;

/** A failure the user can fix: its message is all they see, so it says what to do. */
public final class CliException extends RuntimeException {
    public CliException(String message) {
        super(message);
    }

    public CliException(String message, Throwable cause) {
        super(message, cause);
    }
}

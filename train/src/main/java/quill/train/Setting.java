package quill.train;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * What a training setting is, declared once on its {@link TrainConfig} component: {@code quill train} makes its flag
 * from it ({@code --max-iters=N} and the line of {@code --help}), and settings files that leave it out read as
 * {@link #absent}. The presets ({@code presets/*.properties}) name every setting, each with a longer comment.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.RECORD_COMPONENT)
public @interface Setting {

    /** The value's name in the flag's help, {@code N} in {@code --max-iters=N}; {@code BOOL} for a switch. */
    String label();

    /** The flag's description in {@code quill train --help}: one or two sentences. */
    String help();

    /**
     * The value a settings file (or a checkpoint's) that leaves this setting out means: for the settings added after
     * the first presets, the value that behaves as before they existed. Empty: the setting must be given.
     */
    String absent() default "";
}

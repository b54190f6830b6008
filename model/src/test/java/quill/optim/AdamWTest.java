package quill.optim;

import quill.model.GradCheckData;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdamWTest {

    static Map<String, Parameter> params(DataType type) {
        Map<String, Parameter> m = new LinkedHashMap<>();
        m.put("w", new Parameter("w", GradCheckData.random(1, 2, 3).castTo(type)));
        m.put("b", new Parameter("b", GradCheckData.random(2, 3).castTo(type)));
        m.get("w").grad().assign(GradCheckData.random(3, 2, 3));
        m.get("b").grad().assign(GradCheckData.random(4, 3));
        return m;
    }

    /** torch.optim.AdamW's update, element by element, in double. */
    @Test
    void stepsMatchTorchAdamW() {
        double lr = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.1;
        Map<String, Parameter> p = params(DataType.DOUBLE);
        Map<String, double[]> value = new LinkedHashMap<>(), m = new LinkedHashMap<>(), v = new LinkedHashMap<>();
        p.forEach((n, q) -> {
            value.put(n, q.value().dup().data().asDouble());
            m.put(n, new double[(int) q.value().length()]);
            v.put(n, new double[(int) q.value().length()]);
        });
        AdamW adamW = new AdamW(p, b1, b2, eps, wd);
        for (int t = 1; t <= 3; t++) {
            adamW.step(lr);
            for (String n : p.keySet()) {
                double[] x = value.get(n), g = p.get(n).grad().dup().data().asDouble();
                for (int i = 0; i < x.length; i++) {
                    if (n.equals("w")) x[i] *= 1 - lr * wd;                  // decay: 2-D weights only
                    m.get(n)[i] = b1 * m.get(n)[i] + (1 - b1) * g[i];
                    v.get(n)[i] = b2 * v.get(n)[i] + (1 - b2) * g[i] * g[i];
                    double denom = Math.sqrt(v.get(n)[i]) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                    x[i] -= lr / (1 - Math.pow(b1, t)) * m.get(n)[i] / denom;
                }
                double[] actual = p.get(n).value().dup().data().asDouble();
                for (int i = 0; i < x.length; i++) assertEquals(x[i], actual[i], 1e-14, n + "[" + i + "] at step " + t);
            }
        }
        assertEquals(3, adamW.steps());
    }

    /** The float loop (training's) is the double loop's formula: after three steps they agree to float rounding. */
    @Test
    void floatStepsEqualTheDoubleOnesToFloatRounding() {
        Map<String, Parameter> f = params(DataType.FLOAT), d = params(DataType.DOUBLE);
        AdamW inFloat = new AdamW(f, 0.9, 0.99, 1e-8, 0.1), inDouble = new AdamW(d, 0.9, 0.99, 1e-8, 0.1);
        for (int t = 1; t <= 3; t++) {
            inFloat.step(0.01);
            inDouble.step(0.01);
        }
        for (String n : f.keySet()) {
            double[] a = f.get(n).value().castTo(DataType.DOUBLE).data().asDouble();
            double[] b = d.get(n).value().data().asDouble();
            for (int i = 0; i < a.length; i++) assertEquals(b[i], a[i], 1e-6 * (1 + Math.abs(b[i])), n + "[" + i + "]");
        }
    }

    @Test
    void clipGradNormScalesOnlyAboveTheLimit() {
        Map<String, Parameter> p = params(DataType.FLOAT);
        double norm = 0;
        for (Parameter q : p.values()) norm += q.grad().castTo(DataType.DOUBLE).norm2Number().doubleValue()
                * q.grad().castTo(DataType.DOUBLE).norm2Number().doubleValue();
        norm = Math.sqrt(norm);
        INDArray before = p.get("w").grad().dup();
        assertEquals(norm, AdamW.clipGradNorm(p.values(), 100), 1e-5);
        assertEquals(before, p.get("w").grad());
        assertEquals(norm, AdamW.clipGradNorm(p.values(), 0.5), 1e-5);
        assertEquals(0.5, AdamW.clipGradNorm(p.values(), 0.5), 1e-5);
    }

    @Test
    void saveAndLoadResumeExactly(@TempDir Path dir) throws IOException {
        Map<String, Parameter> a = params(DataType.FLOAT), b = params(DataType.FLOAT);
        AdamW adamA = new AdamW(a, 0.9, 0.95, 1e-8, 0.1);
        for (int i = 0; i < 3; i++) adamA.step(0.01);
        adamA.save(dir);
        assertTrue(Files.exists(dir.resolve("w.exp_avg.npy")) && Files.exists(dir.resolve("b.exp_avg_sq.npy")));
        a.forEach((n, q) -> b.get(n).value().assign(q.value()));
        AdamW adamB = new AdamW(b, 0.9, 0.95, 1e-8, 0.1);
        adamB.load(dir);
        assertEquals(3, adamB.steps());
        adamA.step(0.01);
        adamB.step(0.01);
        for (String n : a.keySet()) assertEquals(a.get(n).value(), b.get(n).value(), n);
        Files.delete(dir.resolve("b.exp_avg_sq.npy"));
        IOException e = assertThrows(IOException.class, () -> adamB.load(dir));
        assertTrue(e.getMessage().contains("b.exp_avg_sq.npy"), e.getMessage());
    }

    @Test
    void badHyperparametersAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new AdamW(params(DataType.FLOAT), 1.0, 0.99, 1e-8, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(params(DataType.FLOAT), 0.9, 0.99, 0, 0));
    }
}

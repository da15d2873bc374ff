def two_layer_hvp(x, y, V, w, t_V, t_w):
    # forward sweep: f_i, leaves to root
    # models.py:25: h = sigmoid(V @ x)
    h = sigmoid(V @ x)
    t5 = 1.0 - h
    t_h = t_V @ x * h * t5
    # models.py:26: return (w @ h - y) ** 2
    t12 = (t_w @ h + w @ t_h) * 2.0
    # backward sweep: g_i = d loss / d f_i, root to leaves
    # grad of models.py:26: return (w @ h - y) ** 2
    t13 = 2.0 * (w @ h - y)
    t_g_w = t12 * h + t_h * t13
    g_h = t13 * w
    t_g_h = t12 * w + t_w * t13
    # grad of models.py:25: h = sigmoid(V @ x)
    t_g_V = np.outer((t_g_h * h + t_h * g_h) * t5 + -t_h * (g_h * h), x)
    return t_g_V, t_g_w

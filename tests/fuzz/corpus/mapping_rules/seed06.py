out = []
for k, v in {'a': 1, 'b': 2}.items():
    out.append(k * v)
return out
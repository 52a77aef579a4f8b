d = {k: v for k, v in user.group_attributes().items()}
d['x'] = sorted(d.keys(), reverse=True)
return d
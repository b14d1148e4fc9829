// Grey shading of the surface normal, for the detailed shape image.
//
// Frame: x right, y down (image pixels), z = depth away from the camera, all in pixels. This is
// a right-handed frame, so a mesh wound counter-clockwise seen from outside keeps
// cross(v1 - v0, v2 - v0) as its outward normal, and a surface facing the camera has n.z < 0.

#ifndef MAX_LIGHTS
#define MAX_LIGHTS 8
#endif

uniform vec4 u_lights[MAX_LIGHTS];  // xyz: unit direction towards the light, w: intensity
uniform int u_n_lights;
uniform float u_ambient;
uniform float u_albedo;
uniform bool u_two_sided;           // shade back faces seen through holes as if facing the camera

uniform bool u_use_detail_map;
uniform sampler2D u_detail_map;     // displacement along the normal, sampled at the vertex UVs
uniform float u_detail_scale;       // map value -> pixels

// Normal of the surface displaced by height h (pixels) along n, at the surface point p (pixels),
// from screen-space derivatives: Mikkelsen's "surface gradient" bump mapping (2010), which needs
// no tangent frame, so any UV layout works. p = (pixel x, pixel y, depth).
vec3 bumped_normal(vec3 n, vec3 p, float h) {
    vec3 dpdx = dFdx(p);
    vec3 dpdy = dFdy(p);
    vec3 r1 = cross(dpdy, n);
    vec3 r2 = cross(n, dpdx);
    float det = dot(dpdx, r1);
    vec3 grad = sign(det) * (dFdx(h) * r1 + dFdy(h) * r2);
    vec3 b = abs(det) * n - grad;
    float len = length(b);
    return len > 0.0 ? b / len : n;
}

float shade_grey(vec3 n) {
    float light = u_ambient;
    for (int i = 0; i < MAX_LIGHTS; ++i) {
        if (i >= u_n_lights) break;
        light += u_lights[i].w * max(dot(n, u_lights[i].xyz), 0.0);
    }
    return clamp(u_albedo * light, 0.0, 1.0);
}

vec3 surface_normal(vec3 interpolated, vec2 uv, vec3 p) {
    float len = length(interpolated);
    vec3 n = len > 0.0 ? interpolated / len : vec3(0.0, 0.0, -1.0);
    if (u_two_sided && n.z > 0.0) {
        n = -n;
    }
    if (u_use_detail_map) {
        float h = texture(u_detail_map, uv).r * u_detail_scale;
        n = bumped_normal(n, p, h);
    }
    return n;
}

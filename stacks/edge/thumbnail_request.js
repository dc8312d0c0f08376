// CloudFront Function (cloudfront-js-2.0), viewer request, GET /download-thumbnail/*.
//
// Reduces Accept to what can change a thumbnail, before the cache key is computed: exactly
// "image/webp" when the viewer lists WebP (with a q above 0), otherwise no Accept at all.
// Browsers send dozens of Accept spellings; the cache holds at most two variants per
// thumbnail, and the service sees one of two requests.
function handler(event) {
    var request = event.request;
    var accept = request.headers.accept;
    if (accept && takesWebp(accept.value)) {
        request.headers.accept = { value: 'image/webp' };
    } else {
        delete request.headers.accept;
    }
    return request;
}

function takesWebp(accept) {
    return accept.split(',').some(function (range) {
        var parts = range.split(';');
        if (parts[0].trim().toLowerCase() !== 'image/webp') {
            return false;
        }
        return !parts.slice(1).some(function (parameter) {
            var pair = parameter.split('=');
            return pair[0].trim().toLowerCase() === 'q' && !(parseFloat(pair[1]) > 0);
        });
    });
}

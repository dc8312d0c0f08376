// CloudFront Function (cloudfront-js-2.0), viewer response, on the download routes of a stage
// whose every route needs an API key.
//
// The service marks images "public" to this distribution only, so that it may keep them
// under a cache key that holds X-Api-Key. Any cache past it (a proxy, a shared browser
// profile) must not: viewers get "private", with every other directive unchanged.
function handler(event) {
    var response = event.response;
    var cacheControl = response.headers['cache-control'];
    if (cacheControl) {
        cacheControl.value = cacheControl.value
            .split(',')
            .map(function (directive) {
                return directive.trim().toLowerCase() === 'public'
                    ? directive.replace(/public/i, 'private')
                    : directive;
            })
            .join(',');
    }
    return response;
}
